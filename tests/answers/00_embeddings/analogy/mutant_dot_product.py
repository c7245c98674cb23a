def analogy(vectors, a, b, c):
    # Mistake: raw dot products favour long vectors over well-aligned ones.
    scores = vectors @ (vectors[b] - vectors[a] + vectors[c])
    scores[[a, b, c]] = float("-inf")
    return int(scores.argmax())
