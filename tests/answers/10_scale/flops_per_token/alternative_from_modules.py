def flops_per_token(config, seq_len):
    # every matmul weight of a real model: the Linear layers, lm_head included (its weight is the embedding's)
    model = GPT(config)
    n = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear))
    return 6 * n + 12 * config.n_layer * seq_len * config.n_embd
