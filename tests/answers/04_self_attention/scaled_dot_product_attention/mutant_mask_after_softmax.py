def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = q.shape[-1]
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(d_k), dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ v, weights
