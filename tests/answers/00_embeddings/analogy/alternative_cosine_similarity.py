def analogy(vectors, a, b, c):
    unit = vectors / vectors.norm(dim=1, keepdim=True)
    target = unit[b] - unit[a] + unit[c]
    similarity = F.cosine_similarity(vectors, target.unsqueeze(0), dim=1)
    for word in (a, b, c):
        similarity[word] = -2.0
    return similarity.argmax().item()
