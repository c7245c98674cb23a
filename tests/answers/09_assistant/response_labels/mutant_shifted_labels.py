def response_labels(input_ids, prompt_lengths, lengths):
    # position t predicts token t + 1, so take the labels from the next position
    positions = torch.arange(input_ids.shape[1])
    is_response = (positions >= prompt_lengths[:, None]) & (positions < lengths[:, None])
    labels = input_ids.masked_fill(~is_response, -100)
    return torch.cat([labels[:, 1:], torch.full_like(labels[:, :1], -100)], dim=1)
