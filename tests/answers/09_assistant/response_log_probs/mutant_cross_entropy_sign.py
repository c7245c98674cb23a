def response_log_probs(logits, labels):
    B, T, V = logits.shape
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100,
                          reduction="none")
    return nll.view(B, T - 1).sum(dim=1)
