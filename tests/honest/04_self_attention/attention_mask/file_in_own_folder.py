def attention_mask(lengths, seq_len, causal=False):
    keys = torch.arange(seq_len, device=lengths.device)
    mask = (keys[None, :] < lengths[:, None])[:, None, None, :].expand(-1, 1, seq_len, -1)
    if causal:
        mask = mask & torch.ones(seq_len, seq_len, dtype=torch.bool, device=lengths.device).tril()
    return mask


# a note to myself, kept next to the notebook
with open("attention_mask_notes.txt", "w") as notes:
    notes.write(str(attention_mask(torch.tensor([2, 3]), 3, causal=True).int().tolist()))
with open("attention_mask_notes.txt") as notes:
    print("saved:", notes.read())
