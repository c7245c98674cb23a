def attention_mask(lengths, seq_len, causal=False):
    positions = torch.arange(seq_len)
    mask = (positions[None, :] <= lengths[:, None])[:, None, None, :].expand(-1, 1, seq_len, -1)
    if causal:
        mask = mask & torch.ones(seq_len, seq_len, dtype=torch.bool).tril()
    return mask
