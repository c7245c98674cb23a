def one_hot_embed(ids, weight):
    # Mistake: multiplies by the transpose, as if weight were (d, V).
    one_hot = F.one_hot(ids, weight.shape[1]).to(weight.dtype)
    return one_hot @ weight.T
