def decoder_layer(layer, x, memory, memory_mask=None):
    """Post-LN decoder layer with the sublayers of `layer`."""
    mask = causal_mask(x.shape[1])
    h = layer.norm1(x)
    x = x + layer.self_attn(h, h, h, mask)[0]
    x = x + layer.cross_attn(layer.norm2(x), memory, memory, memory_mask)[0]
    x = x + layer.ff(layer.norm3(x))
    return x
