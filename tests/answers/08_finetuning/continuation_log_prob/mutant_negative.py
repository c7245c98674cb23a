def continuation_log_prob(logits, targets):
    # the negative log-likelihood: cross-entropy summed over the scored positions
    B, T, V = logits.shape
    nll = F.cross_entropy(logits.reshape(B * T, V), targets.reshape(B * T), ignore_index=-100, reduction="none")
    return nll.reshape(B, T).sum(-1)
