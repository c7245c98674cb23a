def response_labels(input_ids, prompt_lengths, lengths):
    B, T = input_ids.shape
    t = torch.arange(T).expand(B, T)
    labels = input_ids.clone()
    labels[t < prompt_lengths[:, None]] = -100
    labels[t >= lengths[:, None]] = -100
    return labels
