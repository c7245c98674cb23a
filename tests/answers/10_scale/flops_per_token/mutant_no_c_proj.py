def flops_per_token(config, seq_len):
    d = config.n_embd
    per_block = 3 * d * d + 4 * d * d + 4 * d * d
    n = config.n_layer * per_block + config.vocab_size * d
    return 6 * n + 12 * config.n_layer * seq_len * d
