def response_log_probs(logits, labels):
    probs = logits[:, :-1].softmax(dim=-1)
    targets = labels[:, 1:]
    picked = probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * (targets != -100)).sum(dim=-1)
