def encode(src, src_lengths, embedding, gru):
    # Each sequence alone, without its padding.
    B, S = src.shape
    outputs = torch.zeros(B, S, gru.hidden_size, dtype=gru.weight_hh_l0.dtype)
    finals = []
    for b in range(B):
        n = int(src_lengths[b])
        out_b, h_b = gru(embedding(src[b:b + 1, :n]))
        outputs[b, :n] = out_b[0]
        finals.append(h_b)
    return outputs, torch.cat(finals, dim=1)
