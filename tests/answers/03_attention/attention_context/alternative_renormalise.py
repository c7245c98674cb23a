def attention_context(scores, values, src_mask):
    # softmax, zero the padding, renormalise: the same weights, computed another way
    exp = torch.exp(scores - scores.max(dim=-1, keepdim=True).values) * src_mask
    weights = exp / exp.sum(dim=-1, keepdim=True)
    context = torch.einsum("bs,bsd->bd", weights, values)
    return context, weights
