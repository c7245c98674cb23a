def masked_cross_entropy(logits, targets, pad_id=PAD_ID):
    B, T, V = logits.shape
    per_token = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none").view(B, T)
    mask = (targets != pad_id).float()
    # Mistake: mean of per-sequence means; short sequences weigh as much as long ones.
    return ((per_token * mask).sum(1) / mask.sum(1)).mean()
