def masked_cross_entropy(logits, targets, pad_id=PAD_ID):
    # Mistake: the padded positions are averaged in.
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
