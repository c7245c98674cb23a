def scaled_dot_product_attention(q, k, v, mask=None):
    # einsum scores, a large negative number instead of -inf, and F.softmax
    scores = torch.einsum("...qd,...kd->...qk", q, k) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = torch.where(mask, scores, torch.tensor(-1e9, dtype=scores.dtype))
    weights = F.softmax(scores, dim=-1)
    output = torch.einsum("...qk,...kd->...qd", weights, v)
    return output, weights
