def scaled_dot_product_attention(q, k, v, mask=None):
    # compute in float64 whatever comes in; weights are returned in float64, the output in v's dtype
    scores = q.double() @ k.double().mT / math.sqrt(k.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask.logical_not(), torch.finfo(torch.float64).min)
    weights = scores.softmax(-1)
    return (weights @ v.double()).to(v.dtype), weights
