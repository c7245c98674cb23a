def skipgram_pairs(ids, window):
    # Mistake: only the words after the center, as a left-to-right language model sees them.
    pairs = []
    for i in range(len(ids)):
        for j in range(i + 1, min(len(ids), i + window + 1)):
            pairs.append((ids[i].item(), ids[j].item()))
    return torch.tensor(pairs, dtype=torch.long).view(-1, 2)
