def additive_score(query, keys, W_q, W_k, v):
    # one source position at a time, with F.linear
    rows = []
    for s in range(keys.shape[1]):
        energy = torch.tanh(F.linear(query, W_q) + F.linear(keys[:, s], W_k))   # (B, A)
        rows.append((energy * v).sum(-1))
    return torch.stack(rows, dim=1)
