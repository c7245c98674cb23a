def analogy(vectors, a, b, c):
    # Mistake: a, b and c are masked with 0, but cosines run down to -1: when every other word scores below 0,
    # one of the question's words still wins.
    unit = F.normalize(vectors, dim=-1)
    scores = unit @ (unit[b] - unit[a] + unit[c])
    scores[[a, b, c]] = 0.0
    return int(scores.argmax())
