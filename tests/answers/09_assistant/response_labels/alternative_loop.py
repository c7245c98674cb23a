def response_labels(input_ids, prompt_lengths, lengths):
    labels = torch.full_like(input_ids, -100)
    for b in range(input_ids.shape[0]):
        start, end = int(prompt_lengths[b]), int(lengths[b])
        labels[b, start:end] = input_ids[b, start:end]
    return labels
