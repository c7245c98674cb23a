def one_hot_embed(ids, weight):
    # Mistake: builds the one-hot matrix for a flat list of ids only.
    V = weight.shape[0]
    one_hot = torch.zeros(len(ids), V, dtype=weight.dtype)
    one_hot[torch.arange(len(ids)), ids] = 1.0
    return one_hot @ weight
