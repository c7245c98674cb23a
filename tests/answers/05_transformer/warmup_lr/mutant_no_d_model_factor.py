def warmup_lr(step, d_model, warmup):
    """The learning rate of "Attention Is All You Need" at `step` (counted from 1)."""
    return min(step ** -0.5, step * warmup ** -1.5)
