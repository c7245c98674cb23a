def flops_per_token(config, seq_len):
    c = config.__dict__  # the notebook reads CONFIG.__dict__ the same way
    weights = c["n_layer"] * (3 + 1 + 4 + 4) * c["n_embd"] ** 2 + c["vocab_size"] * c["n_embd"]
    return 6 * weights + 12 * c["n_layer"] * seq_len * c["n_embd"]
