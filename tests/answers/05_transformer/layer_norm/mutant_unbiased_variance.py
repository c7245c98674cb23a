def layer_norm(x, weight, bias, eps=1e-5):
    """LayerNorm over the last dim, then scale and shift."""
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias
