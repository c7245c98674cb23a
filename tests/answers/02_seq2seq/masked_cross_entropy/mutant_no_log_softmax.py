def masked_cross_entropy(logits, targets, pad_id=PAD_ID):
    mask = targets != pad_id
    # Mistake: uses the raw logits as log-probabilities.
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return -(picked * mask).sum() / mask.sum()
