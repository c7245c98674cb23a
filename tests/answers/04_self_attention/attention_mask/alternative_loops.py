def attention_mask(lengths, seq_len, causal=False):
    mask = torch.zeros(len(lengths), 1, seq_len, seq_len, dtype=torch.bool)
    for b, length in enumerate(lengths.tolist()):
        for i in range(seq_len):
            for j in range(length):
                if not causal or j <= i:
                    mask[b, 0, i, j] = True
    return mask
