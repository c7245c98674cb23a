def response_log_probs(logits, labels):
    # Mistake: log(softmax(x)) rounds a tiny probability to 0 and its log to -inf.
    log_probs = logits[:, :-1].softmax(dim=-1).log()
    targets = labels[:, 1:]
    scored = targets != -100
    picked = log_probs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return torch.where(scored, picked, torch.zeros_like(picked)).sum(dim=-1)
