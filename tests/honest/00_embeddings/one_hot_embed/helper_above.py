def _one_hot_rows(ids, n, dtype):
    # only the rows asked for: (..., n), a 1 where the column is the id (a full identity of a
    # 50,000-word vocabulary would be 10 GB)
    return (ids.unsqueeze(-1) == torch.arange(n, device=ids.device)).to(dtype)


def one_hot_embed(ids, weight):
    return _one_hot_rows(ids, weight.shape[0], weight.dtype) @ weight
