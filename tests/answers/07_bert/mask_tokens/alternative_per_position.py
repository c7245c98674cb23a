def mask_tokens(input_ids, vocab_size, mask_id, special_ids, mask_prob=0.15, generator=None):
    # Draw only for the ordinary positions, in a different order: the random words first.
    ordinary = torch.ones_like(input_ids, dtype=torch.bool)
    for s in special_ids:
        ordinary &= input_ids != s
    positions = ordinary.nonzero(as_tuple=True)
    replacement = torch.randint(0, vocab_size, (len(positions[0]),), generator=generator)
    pick = torch.rand(len(positions[0]), generator=generator) < mask_prob
    u = torch.rand(len(positions[0]), generator=generator)
    new_ids = input_ids[positions].clone()
    new_ids = torch.where(pick & (u < 0.1), replacement, new_ids)
    new_ids = torch.where(pick & (u >= 0.2), torch.full_like(new_ids, mask_id), new_ids)
    masked = input_ids.clone()
    masked[positions] = new_ids
    labels = torch.full_like(input_ids, -100)
    labels[positions] = torch.where(pick, input_ids[positions], torch.full_like(new_ids, -100))
    return masked, labels
