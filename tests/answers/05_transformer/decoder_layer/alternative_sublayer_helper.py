def decoder_layer(layer, x, memory, memory_mask=None):
    """Post-LN decoder layer written with one helper for 'norm(x + sublayer(x))'."""
    def residual(norm, sublayer, h):
        return norm(h + sublayer(h))

    tgt_mask = torch.ones(x.shape[1], x.shape[1], dtype=torch.bool).tril()
    x = residual(layer.norm1, lambda h: layer.self_attn(h, h, h, tgt_mask, need_weights=False)[0], x)
    x = residual(layer.norm2, lambda h: layer.cross_attn(h, memory, memory, memory_mask, need_weights=False)[0], x)
    return residual(layer.norm3, layer.ff, x)
