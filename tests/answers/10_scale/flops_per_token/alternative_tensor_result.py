def flops_per_token(config, seq_len):
    d = torch.tensor(config.n_embd, dtype=torch.float64)
    n = config.n_layer * 12 * d ** 2 + config.vocab_size * d
    return 6 * n + 12 * config.n_layer * seq_len * d
