def response_log_probs(logits, labels):
    logits, targets = logits[:, :-1], labels[:, 1:]
    mask = (targets != -100).to(logits.dtype)
    chosen = logits.gather(-1, (targets * (targets != -100)).unsqueeze(-1)).squeeze(-1)
    token_log_probs = chosen - logits.logsumexp(dim=-1)
    return (token_log_probs * mask).sum(dim=1)
