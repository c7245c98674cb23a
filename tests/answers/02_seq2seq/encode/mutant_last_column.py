def encode(src, src_lengths, embedding, gru):
    packed = pack_padded_sequence(embedding(src), src_lengths.cpu(), batch_first=True, enforce_sorted=False)
    packed_outputs, _ = gru(packed)
    outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=src.shape[1])
    # Mistake: the last column is padding (zeros) for every sequence shorter than the batch.
    return outputs, outputs[:, -1].unsqueeze(0)
