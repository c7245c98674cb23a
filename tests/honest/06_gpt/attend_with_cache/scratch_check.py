def attend_with_cache(q, k, v, cache=None):
    if cache is not None:
        k = torch.cat((cache[0], k), dim=-2)
        v = torch.cat((cache[1], v), dim=-2)
    weights = torch.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, dim=-1)
    return weights @ v, (k, v)


_out, (_k, _v) = attend_with_cache(*torch.randn(3, 1, 2, 1, 4))
assert _k.shape == (1, 2, 1, 4), _k.shape
print("cache length after one step:", _k.shape[2])
