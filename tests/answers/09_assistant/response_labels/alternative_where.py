def response_labels(input_ids, prompt_lengths, lengths):
    positions = torch.arange(input_ids.shape[1]).unsqueeze(0)  # (1, T)
    is_response = (prompt_lengths.unsqueeze(1) <= positions) & (positions < lengths.unsqueeze(1))
    return torch.where(is_response, input_ids, -100)
