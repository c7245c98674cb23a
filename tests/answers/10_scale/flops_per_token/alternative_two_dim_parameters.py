def flops_per_token(config, seq_len):
    model = GPT(config)
    # matrices only (no biases, no LayerNorm), without the position table; the tied
    # token table appears once in parameters() and stands for lm_head
    n = sum(p.numel() for name, p in model.named_parameters() if p.dim() == 2 and "pos_emb" not in name)
    dense = 6 * n
    attention = 12 * config.n_layer * seq_len * config.n_embd
    return int(dense + attention)
