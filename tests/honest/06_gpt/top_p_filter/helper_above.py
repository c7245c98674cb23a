def _keep_sorted(sorted_probs, p):
    ranked_above = sorted_probs.cumsum(-1) - sorted_probs
    return ranked_above < p


def top_p_filter(logits, p):
    sorted_probs, order = logits.softmax(-1).sort(-1, descending=True)
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order, _keep_sorted(sorted_probs, p))
    return logits.masked_fill(~keep, float("-inf"))
