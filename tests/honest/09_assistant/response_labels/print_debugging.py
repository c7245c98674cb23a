def response_labels(input_ids, prompt_lengths, lengths):
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    keep = (positions >= prompt_lengths.unsqueeze(1)) & (positions < lengths.unsqueeze(1))
    print("scored tokens per row:", keep.sum(dim=1).tolist())
    return torch.where(keep, input_ids, torch.full_like(input_ids, -100))
