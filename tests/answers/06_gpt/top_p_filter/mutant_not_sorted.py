def top_p_filter(logits, p):
    probs = logits.softmax(dim=-1)
    keep = probs.cumsum(dim=-1) - probs < p
    return logits.masked_fill(~keep, float("-inf"))
