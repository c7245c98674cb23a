import warnings


def analogy(vectors, a, b, c):
    if vectors.shape[0] < 4:
        warnings.warn("fewer than four words: nothing is left to answer")
    unit = vectors / vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
    target = unit[b] - unit[a] + unit[c]
    scores = unit @ target
    for word in (a, b, c):
        scores[word] = -float("inf")
    return int(scores.argmax())
