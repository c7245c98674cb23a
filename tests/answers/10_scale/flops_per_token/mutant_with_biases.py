def flops_per_token(config, seq_len):
    model = GPT(config)
    n = sum(p.numel() for m in model.modules() if isinstance(m, nn.Linear) for p in m.parameters())
    return 6 * n + 12 * config.n_layer * seq_len * config.n_embd
