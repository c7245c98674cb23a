def response_labels(input_ids, prompt_lengths, lengths):
    # Mistake: squeeze() drops the batch axis of a batch of one.
    positions = torch.arange(input_ids.shape[1])
    is_response = (positions >= prompt_lengths[:, None]) & (positions < lengths[:, None])
    return torch.where(is_response, input_ids, -100).squeeze()
