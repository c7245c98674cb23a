def multi_head_attention(query, key, value, q_proj, k_proj, v_proj, out_proj, num_heads, mask=None):
    # attention written inline, scaled by the model width instead of the head width
    batch, seq_q, d_model = query.shape
    d_head = d_model // num_heads
    q = q_proj(query).view(batch, -1, num_heads, d_head).transpose(1, 2)
    k = k_proj(key).view(batch, -1, num_heads, d_head).transpose(1, 2)
    v = v_proj(value).view(batch, -1, num_heads, d_head).transpose(1, 2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_model)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    heads = weights @ v
    return out_proj(heads.transpose(1, 2).reshape(batch, seq_q, d_model)), weights
