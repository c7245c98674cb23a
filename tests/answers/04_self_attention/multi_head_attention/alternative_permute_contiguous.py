def multi_head_attention(query, key, value, q_proj, k_proj, v_proj, out_proj, num_heads, mask=None):
    B, Tq, D = query.shape
    Tk = key.shape[1]
    q = q_proj(query).reshape(B, Tq, num_heads, D // num_heads).permute(0, 2, 1, 3)
    k = k_proj(key).reshape(B, Tk, num_heads, D // num_heads).permute(0, 2, 1, 3)
    v = v_proj(value).reshape(B, Tk, num_heads, D // num_heads).permute(0, 2, 1, 3)
    out, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    out = out.permute(0, 2, 1, 3).contiguous().view(B, Tq, D)
    return out_proj(out), weights
