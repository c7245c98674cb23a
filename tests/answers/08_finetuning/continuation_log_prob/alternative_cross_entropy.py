def continuation_log_prob(logits, targets):
    B, T, V = logits.shape
    nll = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-100, reduction="none")
    return -nll.view(B, T).sum(dim=1)
