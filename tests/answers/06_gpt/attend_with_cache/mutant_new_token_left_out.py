def attend_with_cache(q, k, v, cache=None):
    if cache is None:
        return v, (k, v)
    k_past, v_past = cache
    scores = q @ k_past.transpose(-2, -1) / math.sqrt(q.shape[-1])
    out = scores.softmax(dim=-1) @ v_past
    return out, (torch.cat([k_past, k], dim=2), torch.cat([v_past, v], dim=2))
