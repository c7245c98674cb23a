def attention_mask(lengths, seq_len, causal=False):
    # True = padding or future: torch.nn.MultiheadAttention's convention, not ours
    positions = torch.arange(seq_len)
    padded = (positions[None, :] >= lengths[:, None])[:, None, None, :].expand(-1, 1, seq_len, -1)
    if causal:
        padded = padded | torch.ones(seq_len, seq_len, dtype=torch.bool).triu(1)
    return padded
