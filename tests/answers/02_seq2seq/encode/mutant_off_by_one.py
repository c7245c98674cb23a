def encode(src, src_lengths, embedding, gru):
    outputs, _ = gru(embedding(src))
    rows = torch.arange(src.shape[0])
    # Mistake: the last real token of a sequence of length n is at n - 1, not n.
    last = src_lengths.clamp(max=src.shape[1] - 1)
    return outputs, outputs[rows, last].unsqueeze(0)
