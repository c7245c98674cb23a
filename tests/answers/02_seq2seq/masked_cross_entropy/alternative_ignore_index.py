def masked_cross_entropy(logits, targets, pad_id=PAD_ID):
    # cross_entropy takes the class axis second: (B, V, T)
    return F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=pad_id)
