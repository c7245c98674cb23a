def response_log_probs(logits, labels):
    log_probs = logits.detach().log_softmax(dim=-1)
    totals = []
    for b in range(labels.shape[0]):
        total = 0.0
        for t in range(1, labels.shape[1]):
            if labels[b, t] != -100:
                total += log_probs[b, t - 1, labels[b, t]].item()
        totals.append(total)
    return torch.tensor(totals, dtype=logits.dtype)
