def response_labels(input_ids, prompt_lengths, lengths):
    labels = input_ids.clone()
    for b in range(input_ids.shape[0]):
        labels[b, :prompt_lengths[b]] = -100
    return labels
