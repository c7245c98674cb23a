def response_log_probs(logits, labels):
    # Mistake: squeeze() without a dim also drops the position axis when one position is left (T = 2).
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    targets = labels[:, 1:]
    scored = targets != -100
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze()
    return (picked * scored.squeeze()).sum(dim=-1)
