def decoder_layer(layer, x, memory, memory_mask=None):
    """Post-LN decoder layer with the sublayers of `layer`."""
    mask = causal_mask(x.shape[1])
    x = x + layer.norm1(layer.self_attn(x, x, x, mask)[0])
    x = x + layer.norm2(layer.cross_attn(x, memory, memory, memory_mask)[0])
    x = x + layer.norm3(layer.ff(x))
    return x
