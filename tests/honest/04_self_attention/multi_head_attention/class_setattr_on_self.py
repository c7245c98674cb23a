class _Heads:
    def __init__(self, num_heads, **projections):
        self.num_heads = num_heads
        for name, projection in projections.items():
            setattr(self, name, projection)

    def split(self, x, name):
        b, t, d = x.shape
        projected = getattr(self, name)(x)
        return projected.reshape(b, t, self.num_heads, d // self.num_heads).permute(0, 2, 1, 3)


def multi_head_attention(query, key, value, q_proj, k_proj, v_proj, out_proj, num_heads, mask=None):
    heads = _Heads(num_heads, q=q_proj, k=k_proj, v=v_proj)
    q, k, v = heads.split(query, "q"), heads.split(key, "k"), heads.split(value, "v")
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    b, _, t, _ = out.shape
    return out_proj(out.permute(0, 2, 1, 3).reshape(b, t, -1)), weights
