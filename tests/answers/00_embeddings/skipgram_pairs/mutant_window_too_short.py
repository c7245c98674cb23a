def skipgram_pairs(ids, window):
    # Mistake: range(1, window) stops one offset short.
    pairs = []
    for offset in range(1, window):
        pairs += [torch.stack([ids[:-offset], ids[offset:]], 1), torch.stack([ids[offset:], ids[:-offset]], 1)]
    return torch.cat(pairs) if pairs else torch.empty(0, 2, dtype=torch.long)
