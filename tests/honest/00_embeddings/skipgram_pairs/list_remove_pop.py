def skipgram_pairs(ids, window):
    tokens = ids.tolist()
    pairs = []
    for i, center in enumerate(tokens):
        positions = list(range(max(0, i - window), min(len(tokens), i + window + 1)))
        positions.remove(i)  # the center is not its own context
        while positions:
            j = positions.pop()
            pairs.append((center, tokens[j]))
    return torch.tensor(pairs, dtype=torch.long).reshape(-1, 2)
