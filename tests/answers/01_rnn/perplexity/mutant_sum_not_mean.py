def perplexity(logits, targets):
    # Mistake: exponentiates the SUM of the token losses instead of their mean.
    log_probs = torch.log_softmax(logits, dim=-1)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).sum()
    return float(torch.exp(nll))
