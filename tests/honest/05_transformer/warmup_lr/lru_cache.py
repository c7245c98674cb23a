from functools import lru_cache


@lru_cache(maxsize=4096)
def warmup_lr(step, d_model, warmup):
    return d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)
