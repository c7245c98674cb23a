def one_hot_embed(ids, weight):
    one_hot = torch.zeros(*ids.shape, weight.shape[0], dtype=weight.dtype, device=weight.device)
    one_hot.scatter_(-1, ids.unsqueeze(-1), 1)
    return one_hot @ weight


%time _ = one_hot_embed(torch.tensor([[0, 2], [1, 1]]), torch.randn(3, 4))
