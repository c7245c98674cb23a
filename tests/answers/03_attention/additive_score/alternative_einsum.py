def additive_score(query, keys, W_q, W_k, v):
    q = torch.einsum("ad,bd->ba", W_q, query)
    k = torch.einsum("ad,bsd->bsa", W_k, keys)
    return torch.einsum("bsa,a->bs", torch.tanh(q[:, None, :] + k), v)
