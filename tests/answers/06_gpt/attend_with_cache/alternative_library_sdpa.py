def attend_with_cache(q, k, v, cache=None):
    if cache is not None:
        k_past, v_past = cache
        k, v = torch.cat((k_past, k), dim=-2), torch.cat((v_past, v), dim=-2)
    return F.scaled_dot_product_attention(q, k, v), (k, v)
