def decoder_layer(layer, x, memory, memory_mask=None):
    """Post-LN decoder layer whose cross-attention asks from the source: queries from memory, keys from x."""
    mask = causal_mask(x.shape[1])
    x = layer.norm1(x + layer.self_attn(x, x, x, mask)[0])
    x = layer.norm2(x + layer.cross_attn(memory, x, x, memory_mask)[0])
    x = layer.norm3(x + layer.ff(x))
    return x
