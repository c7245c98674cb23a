def multi_head_attention(query, key, value, q_proj, k_proj, v_proj, out_proj, num_heads, mask=None):
    batch, seq_q, d_model = query.shape
    d_head = d_model // num_heads
    q = q_proj(query).view(batch, seq_q, num_heads, d_head).transpose(1, 2)
    k = k_proj(key).view(batch, seq_q, num_heads, d_head).transpose(1, 2)      # the keys have their own length
    v = v_proj(value).view(batch, seq_q, num_heads, d_head).transpose(1, 2)
    heads, weights = scaled_dot_product_attention(q, k, v, mask)
    concat = heads.transpose(1, 2).reshape(batch, seq_q, d_model)
    return out_proj(concat), weights
