def additive_score(query, keys, W_q, W_k, v):
    return torch.tanh(keys @ W_k.T) @ v
