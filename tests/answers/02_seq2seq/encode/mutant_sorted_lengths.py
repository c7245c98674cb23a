def encode(src, src_lengths, embedding, gru):
    # Mistake: enforce_sorted defaults to True, which fails on an unsorted batch.
    packed = pack_padded_sequence(embedding(src), src_lengths.cpu(), batch_first=True)
    packed_outputs, hidden = gru(packed)
    outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=src.shape[1])
    return outputs, hidden
