def continuation_log_prob(logits, targets):
    log_probs = logits.log_softmax(dim=-1)
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return picked.sum(dim=-1)
