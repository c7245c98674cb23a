def response_log_probs(logits, labels):
    totals = []
    for row_logits, row_labels in zip(logits, labels):
        total = row_logits.new_zeros(())
        for t in range(1, len(row_labels)):
            token = int(row_labels[t])
            if token != -100:
                total = total + torch.log_softmax(row_logits[t - 1], dim=-1)[token]
        totals.append(total)
    return torch.stack(totals)
