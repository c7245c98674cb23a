def skipgram_pairs(ids, window):
    # Mistake: offset 0 is included, so every word is its own context.
    pairs = []
    for i in range(len(ids)):
        for j in range(max(0, i - window), min(len(ids), i + window + 1)):
            pairs.append((ids[i].item(), ids[j].item()))
    return torch.tensor(pairs, dtype=torch.long).view(-1, 2)
