def attend_with_cache(q, k, v, cache=None):
    k_all = k if cache is None else torch.cat([cache[0], k], dim=2)
    v_all = v if cache is None else torch.cat([cache[1], v], dim=2)
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k_all) * q.shape[-1] ** -0.5
    scores = scores - scores.amax(dim=-1, keepdim=True)
    weights = scores.exp() / scores.exp().sum(dim=-1, keepdim=True)
    return torch.einsum("bhqk,bhkd->bhqd", weights, v_all), (k_all, v_all)
