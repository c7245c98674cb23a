def skipgram_pairs(ids, window):
    # Mistake: returns the positions of the words, not their ids.
    pairs = []
    for i in range(len(ids)):
        for j in range(max(0, i - window), min(len(ids), i + window + 1)):
            if j != i:
                pairs.append((i, j))
    return torch.tensor(pairs, dtype=torch.long).view(-1, 2)
