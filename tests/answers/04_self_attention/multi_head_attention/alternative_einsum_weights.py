def multi_head_attention(query, key, value, q_proj, k_proj, v_proj, out_proj, num_heads, mask=None):
    # the projections' weights used directly, attention written out with einsum
    def project(layer, x):
        y = F.linear(x, layer.weight, layer.bias)
        return y.unflatten(-1, (num_heads, -1))        # (B, T, H, d)

    q, k, v = project(q_proj, query), project(k_proj, key), project(v_proj, value)
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, -1e9)
    weights = scores.softmax(dim=-1)
    heads = torch.einsum("bhqk,bkhd->bqhd", weights, v)
    return out_proj(heads.flatten(-2)), weights
