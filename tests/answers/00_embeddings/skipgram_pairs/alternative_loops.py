def skipgram_pairs(ids, window):
    pairs = []
    for i, center in enumerate(ids.tolist()):
        for j, context in enumerate(ids.tolist()):
            if i != j and abs(i - j) <= window:
                pairs.append([center, context])
    return torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)
