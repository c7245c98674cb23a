def skipgram_pairs(ids, window):
    # Mistake: torch.tensor([]) of no pairs has shape (0,) (and is float), not (0, 2).
    pairs = []
    T = len(ids)
    for i in range(T):
        for j in range(max(0, i - window), min(T, i + window + 1)):
            if j != i:
                pairs.append([int(ids[i]), int(ids[j])])
    return torch.tensor(pairs)
