def perplexity(logits, targets):
    # Mistake: treats unnormalised logits as log-probabilities (no log-softmax).
    nll = -logits.gather(-1, targets.unsqueeze(-1)).mean()
    return float(torch.exp(nll))
