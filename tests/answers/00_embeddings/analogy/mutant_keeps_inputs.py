def analogy(vectors, a, b, c):
    # Mistake: a, b and c stay candidates, and c (or b) usually wins.
    unit = F.normalize(vectors, dim=-1)
    scores = unit @ (unit[b] - unit[a] + unit[c])
    return int(scores.argmax())
