def flops_per_token(config, seq_len):
    n = sum(p.numel() for p in GPT(config).parameters())
    return 6 * n + 12 * config.n_layer * seq_len * config.n_embd
