def flops_per_token(config, seq_len):
    d = config.n_embd
    n = config.n_layer * 12 * d * d + config.vocab_size * d
    return 6 * n
