def response_log_probs(logits, labels):
    log_probs = F.log_softmax(logits[:, :-1], dim=-1)
    targets = labels[:, 1:]
    scored = targets != -100
    safe = torch.where(scored, targets, torch.zeros_like(targets))
    picked = torch.gather(log_probs, 2, safe[..., None])[..., 0]
    return torch.where(scored, picked, torch.zeros_like(picked)).sum(-1)
