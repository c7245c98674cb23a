def analogy(vectors, a, b, c):
    # Mistake: a, b and c are removed from the candidates, and the position in the shorter list is returned.
    unit = F.normalize(vectors, dim=-1)
    target = unit[b] - unit[a] + unit[c]
    candidates = [w for w in range(len(vectors)) if w not in (a, b, c)]
    return int((unit[candidates] @ target).argmax())
