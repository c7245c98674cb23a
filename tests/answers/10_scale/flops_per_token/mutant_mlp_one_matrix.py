def flops_per_token(config, seq_len):
    d = config.n_embd
    attention = 3 * d * d + d * d
    mlp = 4 * d * d
    n = config.n_layer * (attention + mlp) + config.vocab_size * d
    return 6 * n + 12 * config.n_layer * seq_len * d
