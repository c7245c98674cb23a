def scaled_dot_product_attention(q, k, v, mask=None):
    # scale the queries first; softmax by hand; masked keys zeroed in exp() and the row renormalised
    q = q / math.sqrt(q.size(-1))
    scores = torch.matmul(q, k.transpose(-1, -2))
    exp = torch.exp(scores - scores.max(dim=-1, keepdim=True).values)
    if mask is not None:
        exp = exp * mask
    weights = exp / exp.sum(dim=-1, keepdim=True)
    return torch.matmul(weights, v), weights
