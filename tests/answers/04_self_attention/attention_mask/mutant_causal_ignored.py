def attention_mask(lengths, seq_len, causal=False):
    positions = torch.arange(seq_len)
    return (positions[None, :] < lengths[:, None])[:, None, None, :].expand(-1, 1, seq_len, -1)
