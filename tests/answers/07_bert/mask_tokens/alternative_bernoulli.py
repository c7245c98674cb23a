def mask_tokens(input_ids, vocab_size, mask_id, special_ids, mask_prob=0.15, generator=None):
    # The order of HuggingFace's collator: choose, then [MASK] with 0.8, then half the rest random.
    masked = input_ids.clone()
    labels = input_ids.clone()
    probability = torch.full(input_ids.shape, mask_prob)
    for s in special_ids:
        probability[input_ids == s] = 0.0
    chosen = torch.bernoulli(probability, generator=generator).bool()
    labels[~chosen] = -100
    to_mask = torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool() & chosen
    masked[to_mask] = mask_id
    to_random = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool() & chosen & ~to_mask
    random_words = torch.randint(vocab_size, input_ids.shape, dtype=torch.long, generator=generator)
    masked[to_random] = random_words[to_random]
    return masked, labels
