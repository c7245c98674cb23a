def top_p_filter(logits, p):
    flat = logits.reshape(-1, logits.shape[-1])
    out = torch.full_like(flat, float("-inf"))
    for row in range(flat.shape[0]):
        probs = flat[row].softmax(-1)
        total = 0.0
        for i in probs.argsort(descending=True).tolist():
            out[row, i] = flat[row, i]
            total += probs[i].item()
            if total >= p:
                break
    return out.reshape(logits.shape)
