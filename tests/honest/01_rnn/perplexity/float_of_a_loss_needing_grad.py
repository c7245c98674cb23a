def perplexity(logits, targets):
    log_probs = logits.log_softmax(dim=-1)
    nll = -log_probs.gather(-1, targets.unsqueeze(-1)).mean()
    print("mean NLL:", float(nll))  # torch warns (to stderr) when nll needs grad
    return math.exp(float(nll))
