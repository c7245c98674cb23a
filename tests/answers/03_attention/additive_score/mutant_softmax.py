def additive_score(query, keys, W_q, W_k, v):
    hidden = torch.tanh((query @ W_q.T).unsqueeze(1) + keys @ W_k.T)
    return torch.softmax(hidden @ v, dim=-1)
