def response_log_probs(logits, labels):
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    targets = labels[:, 1:]
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (picked * (targets != -100)).sum(dim=-1)
