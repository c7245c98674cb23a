def skipgram_pairs(ids, window):
    # every (i, j) position pair within the window, from a distance matrix
    positions = torch.arange(len(ids))
    distance = (positions[:, None] - positions[None, :]).abs()
    i, j = torch.nonzero((distance >= 1) & (distance <= window), as_tuple=True)
    return torch.stack([ids[i], ids[j]], dim=1)
