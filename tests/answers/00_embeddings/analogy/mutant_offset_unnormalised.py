def analogy(vectors, a, b, c):
    # Mistake: cosine similarity, but with an offset built from the raw vectors: the longest of a, b, c dominates it.
    target = vectors[b] - vectors[a] + vectors[c]
    scores = F.cosine_similarity(vectors, target.unsqueeze(0), dim=-1)
    scores[[a, b, c]] = float("-inf")
    return int(scores.argmax())
