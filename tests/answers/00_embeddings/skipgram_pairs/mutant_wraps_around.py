def skipgram_pairs(ids, window):
    # Mistake: torch.roll wraps the sentence around, pairing its last words with its first.
    pairs = []
    for offset in range(1, window + 1):
        pairs += [torch.stack([ids, ids.roll(-offset)], 1), torch.stack([ids, ids.roll(offset)], 1)]
    return torch.cat(pairs)
