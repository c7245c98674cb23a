def attend_with_cache(q, k, v, cache=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    out = scores.softmax(dim=-1) @ v
    if cache is not None:
        k = torch.cat([cache[0], k], dim=2)
        v = torch.cat([cache[1], v], dim=2)
    return out, (k, v)
