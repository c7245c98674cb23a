def response_labels(input_ids, prompt_lengths, lengths):
    labels = torch.full_like(input_ids, -100)
    for b in range(len(input_ids)):
        p, n = prompt_lengths[b], lengths[b]
        labels[b, p - 1:n] = input_ids[b, p - 1:n]  # from <|assistant|>, which "starts" the answer
    return labels
