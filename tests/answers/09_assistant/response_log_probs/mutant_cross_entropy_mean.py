def response_log_probs(logits, labels):
    V = logits.shape[-1]
    return -F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)
