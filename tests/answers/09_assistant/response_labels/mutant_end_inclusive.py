def response_labels(input_ids, prompt_lengths, lengths):
    labels = torch.full_like(input_ids, -100)
    for b in range(input_ids.shape[0]):
        p, n = int(prompt_lengths[b]), int(lengths[b])
        labels[b, p:n + 1] = input_ids[b, p:n + 1]
    return labels
