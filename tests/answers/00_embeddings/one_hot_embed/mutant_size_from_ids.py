def one_hot_embed(ids, weight):
    # Mistake: F.one_hot without num_classes makes vectors of length ids.max() + 1, not the vocabulary size.
    one_hot = F.one_hot(ids).to(weight.dtype)
    return one_hot @ weight
