def encode(src, src_lengths, embedding, gru):
    # Step by step; a sequence that has ended keeps its state.
    x = embedding(src)
    B, S, _ = x.shape
    h = torch.zeros(gru.num_layers, B, gru.hidden_size, dtype=x.dtype, device=x.device)
    outs = []
    for t in range(S):
        out_t, h_new = gru(x[:, t:t + 1], h)
        active = (t < src_lengths.to(x.device)).view(1, B, 1)
        h = torch.where(active, h_new, h)
        outs.append(out_t[:, 0])
    return torch.stack(outs, dim=1), h
