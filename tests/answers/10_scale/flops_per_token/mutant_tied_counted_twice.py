def flops_per_token(config, seq_len):
    d = config.n_embd
    embedding = config.vocab_size * d
    lm_head = config.vocab_size * d
    n = config.n_layer * 12 * d * d + embedding + lm_head
    return 6 * n + 12 * config.n_layer * seq_len * d
