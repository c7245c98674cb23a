def decoder_layer(layer, x, memory, memory_mask=None):
    """Post-LN decoder layer, the causal mask built by hand and each step named."""
    T = x.size(1)
    no_future = torch.tril(torch.ones(T, T, device=x.device)).bool()
    attended, _ = layer.self_attn(query=x, key=x, value=x, mask=no_future)
    x = layer.norm1(attended + x)
    looked_up, _ = layer.cross_attn(query=x, key=memory, value=memory, mask=memory_mask)
    x = layer.norm2(looked_up + x)
    return layer.norm3(layer.ff(x) + x)
