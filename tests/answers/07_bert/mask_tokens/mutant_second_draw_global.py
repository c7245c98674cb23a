def mask_tokens(input_ids, vocab_size, mask_id, special_ids, mask_prob=0.15, generator=None):
    special = torch.isin(input_ids, torch.tensor(special_ids))
    chosen = (torch.rand(input_ids.shape, generator=generator) < mask_prob) & ~special
    labels = input_ids.masked_fill(~chosen, -100)
    action = torch.rand(input_ids.shape)  # forgets the generator: masks are not reproducible
    masked = input_ids.masked_fill(chosen & (action < 0.8), mask_id)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator)
    masked = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_ids, masked)
    return masked, labels
