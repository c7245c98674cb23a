def analogy(vectors, a, b, c):
    # Mistake: a - b + c moves c the wrong way along the relation.
    unit = F.normalize(vectors, dim=-1)
    scores = unit @ (unit[a] - unit[b] + unit[c])
    scores[[a, b, c]] = float("-inf")
    return int(scores.argmax())
