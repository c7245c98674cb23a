def response_labels(input_ids, prompt_lengths, lengths):
    labels = torch.full(input_ids.shape, -100.0)
    for b in range(input_ids.shape[0]):
        p, n = prompt_lengths[b], lengths[b]
        labels[b, p:n] = input_ids[b, p:n]
    return labels
