def analogy(vectors, a, b, c):
    # Mistake: the nearest vector by Euclidean distance, without normalising: long vectors are never near.
    target = vectors[b] - vectors[a] + vectors[c]
    distances = (vectors - target).norm(dim=-1)
    distances[[a, b, c]] = float("inf")
    return int(distances.argmin())
