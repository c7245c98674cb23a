def response_log_probs(logits, labels):
    log_probs = F.log_softmax(logits, dim=1)[:, :-1]
    targets = labels[:, 1:]
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * (targets != -100)).sum(dim=-1)
