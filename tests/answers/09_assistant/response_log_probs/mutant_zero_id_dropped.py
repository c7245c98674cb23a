def response_log_probs(logits, labels):
    # Mistake: labels > 0 also drops token id 0, a real token.
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    targets = labels[:, 1:]
    scored = targets > 0
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * scored).sum(dim=-1)
