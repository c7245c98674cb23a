def perplexity(logits, targets):
    # Mistake: normalises over the batch axis instead of the vocabulary axis.
    log_probs = torch.log_softmax(logits, dim=0)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).mean()
    return float(torch.exp(nll))
