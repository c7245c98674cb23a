def encode(src, src_lengths, embedding, gru):
    # Mistake: the GRU also reads the padding, so hidden is the state after the pads.
    outputs, hidden = gru(embedding(src))
    return outputs, hidden
