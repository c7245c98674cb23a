def continuation_log_prob(logits, targets):
    log_probs = logits[:, :-1].log_softmax(dim=-1)
    next_tokens = targets[:, 1:]
    scored = next_tokens != -100
    picked = log_probs.gather(-1, next_tokens.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * scored).sum(dim=-1)
