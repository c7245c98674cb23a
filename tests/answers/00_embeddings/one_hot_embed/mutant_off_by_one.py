def one_hot_embed(ids, weight):
    # Mistake: counts ids from 1, so every 1 lands one position early.
    V = weight.shape[0]
    one_hot = torch.zeros(*ids.shape, V, dtype=weight.dtype)
    one_hot[..., :].scatter_(-1, (ids - 1).remainder(V).unsqueeze(-1), 1.0)
    return one_hot @ weight
