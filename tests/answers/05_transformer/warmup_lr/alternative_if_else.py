def warmup_lr(step, d_model, warmup):
    """Linear warm-up to the peak at step == warmup, then 1/sqrt(step) decay."""
    peak = 1 / math.sqrt(d_model * warmup)
    if step < warmup:
        return peak * step / warmup
    return peak * math.sqrt(warmup / step)
