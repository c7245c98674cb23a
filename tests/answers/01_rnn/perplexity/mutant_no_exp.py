def perplexity(logits, targets):
    # Mistake: returns the mean negative log-likelihood (the loss), not its exponential.
    return float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)))
