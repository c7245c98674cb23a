def one_hot_embed(ids, weight):
    one_hot = torch.zeros(*ids.shape, weight.shape[0], dtype=weight.dtype)
    one_hot.scatter_(-1, ids.unsqueeze(-1), 1.0)
    return torch.einsum("...v,vd->...d", one_hot, weight)
