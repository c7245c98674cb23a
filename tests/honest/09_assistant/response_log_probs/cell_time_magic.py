%%time
def response_log_probs(logits, labels):
    shifted_logits, shifted_labels = logits[:, :-1], labels[:, 1:]
    scored = shifted_labels != -100
    picked = shifted_logits.log_softmax(-1).gather(-1, shifted_labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return picked.where(scored, torch.zeros_like(picked)).sum(-1)
