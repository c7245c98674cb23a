def response_log_probs(logits, labels):
    log_probs = logits.log_softmax(dim=-1)
    scored = labels != -100
    picked = log_probs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * scored).sum(dim=-1)
