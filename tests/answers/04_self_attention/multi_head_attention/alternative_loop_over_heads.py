def multi_head_attention(query, key, value, q_proj, k_proj, v_proj, out_proj, num_heads, mask=None):
    # one head at a time on its slice of the features, then concatenate
    d_head = query.shape[-1] // num_heads
    q, k, v = q_proj(query), k_proj(key), v_proj(value)
    outputs, all_weights = [], []
    for h in range(num_heads):
        cols = slice(h * d_head, (h + 1) * d_head)
        out, w = scaled_dot_product_attention(q[:, None, :, cols], k[:, None, :, cols], v[:, None, :, cols], mask)
        outputs.append(out[:, 0])
        all_weights.append(w[:, 0])
    return out_proj(torch.cat(outputs, dim=-1)), torch.stack(all_weights, dim=1)
