def layer_norm(x, weight, bias, eps=1e-5):
    """LayerNorm written with x.var(unbiased=False)."""
    normalised = (x - x.mean(-1, keepdim=True)) / (x.var(-1, unbiased=False, keepdim=True) + eps) ** 0.5
    return weight * normalised + bias
