def continuation_log_prob(logits, targets):
    scores = []
    for row_logits, row_targets in zip(logits, targets):
        total = row_logits.new_zeros(())
        for t, token in enumerate(row_targets.tolist()):
            if token != -100:
                total = total + torch.log_softmax(row_logits[t], dim=0)[token]
        scores.append(total)
    return torch.stack(scores)
