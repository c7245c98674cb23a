def attention_mask(lengths, seq_len, causal=False):
    # padding as (B, 1, 1, T), which broadcasts over the queries; the future as the strict upper triangle
    keep = torch.arange(seq_len).expand(len(lengths), seq_len) < lengths.unsqueeze(1)
    mask = keep.view(-1, 1, 1, seq_len)
    if causal:
        future = torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool), diagonal=1)
        mask = mask & ~future
    return mask
