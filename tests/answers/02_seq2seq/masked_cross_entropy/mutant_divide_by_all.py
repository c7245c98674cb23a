def masked_cross_entropy(logits, targets, pad_id=PAD_ID):
    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    mask = (targets.reshape(-1) != pad_id).float()
    # Mistake: divides by all B * T positions instead of the real tokens.
    return (per_token * mask).sum() / targets.numel()
