def masked_cross_entropy(logits, targets, pad_id=PAD_ID):
    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    # Mistake: keeps the padding and drops the real tokens.
    mask = (targets.reshape(-1) == pad_id).float()
    return (per_token * mask).sum() / mask.sum()
