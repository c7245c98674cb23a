def decoder_layer(layer, x, memory, memory_mask=None):
    future = causal_mask(x.shape[1], device=x.device)
    attended, _ = layer.self_attn(x, x, x, future)
    x = layer.norm1(x + attended)
    # print(x.shape)
    crossed, _ = layer.cross_attn(x, memory, memory, memory_mask)
    x = layer.norm2(x + crossed)
    print("decoder layer:", tuple(x.shape))
    return layer.norm3(x + layer.ff(x))
