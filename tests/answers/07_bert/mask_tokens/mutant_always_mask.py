def mask_tokens(input_ids, vocab_size, mask_id, special_ids, mask_prob=0.15, generator=None):
    special = torch.isin(input_ids, torch.tensor(special_ids))
    chosen = (torch.rand(input_ids.shape, generator=generator) < mask_prob) & ~special
    labels = input_ids.masked_fill(~chosen, -100)
    masked = input_ids.masked_fill(chosen, mask_id)     # every chosen token becomes [MASK]
    return masked, labels
