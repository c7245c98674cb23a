def continuation_log_prob(logits, targets):
    log_probs = F.log_softmax(logits, dim=-1)
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # -100 is no token id
    return (picked * (targets != -100)).sum(-1)
