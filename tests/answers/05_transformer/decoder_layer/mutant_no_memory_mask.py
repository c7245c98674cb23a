def decoder_layer(layer, x, memory, memory_mask=None):
    """Post-LN decoder layer with the sublayers of `layer`."""
    mask = causal_mask(x.shape[1])
    x = layer.norm1(x + layer.self_attn(x, x, x, mask)[0])
    x = layer.norm2(x + layer.cross_attn(x, memory, memory)[0])
    x = layer.norm3(x + layer.ff(x))
    return x
