def response_labels(input_ids, prompt_lengths, lengths):
    positions = torch.arange(input_ids.shape[1])
    is_response = (positions > prompt_lengths[:, None]) & (positions < lengths[:, None])
    return input_ids.masked_fill(~is_response, -100)
