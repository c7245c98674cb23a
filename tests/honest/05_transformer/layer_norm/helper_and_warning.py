import warnings


def _moments(x):
    mean = x.mean(dim=-1, keepdim=True)
    return mean, (x - mean).pow(2).mean(dim=-1, keepdim=True)


def layer_norm(x, weight, bias, eps=1e-5):
    if eps <= 0:
        warnings.warn("eps should be positive")
    mean, var = _moments(x)
    return (x - mean) * torch.rsqrt(var + eps) * weight + bias
