import warnings


def additive_score(query, keys, W_q, W_k, v):
    if keys.shape[1] == 0:
        warnings.warn("no keys to score")
    hidden = torch.tanh((query @ W_q.T)[:, None, :] + keys @ W_k.T)  # (B, S, A)
    scores = (hidden * v).sum(dim=-1)
    print("scores", tuple(scores.shape))
    return scores
