def analogy(vectors, a, b, c):
    unit = F.normalize(vectors, dim=1)
    target = unit[b] - unit[a] + unit[c]
    order = torch.argsort(unit @ target, descending=True).tolist()
    return next(word for word in order if word not in (a, b, c))
