def response_labels(input_ids, prompt_lengths, lengths):
    # loss on every real token, the prompt included
    positions = torch.arange(input_ids.shape[1])
    is_real = positions < lengths[:, None]
    return input_ids.masked_fill(~is_real, -100)
