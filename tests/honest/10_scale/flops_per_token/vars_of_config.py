def flops_per_token(config, seq_len):
    settings = vars(config)
    d, L, V = settings["n_embd"], settings["n_layer"], settings["vocab_size"]
    return 6 * (L * 12 * d * d + V * d) + 12 * L * seq_len * d
