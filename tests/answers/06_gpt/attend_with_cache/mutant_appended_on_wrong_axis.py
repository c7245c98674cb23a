def attend_with_cache(q, k, v, cache=None):
    if cache is not None:
        k = torch.cat([cache[0], k], dim=-1)
        v = torch.cat([cache[1], v], dim=-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    return scores.softmax(dim=-1) @ v, (k, v)
