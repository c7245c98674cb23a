def additive_score(query, keys, W_q, W_k, v):
    projected_query = query @ W_q.T
    projected_keys = keys @ W_k.T
    return torch.tanh((projected_query.unsqueeze(1) + projected_keys) @ v)
