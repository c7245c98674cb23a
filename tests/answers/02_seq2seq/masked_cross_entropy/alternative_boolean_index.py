def masked_cross_entropy(logits, targets, pad_id=PAD_ID):
    real = targets != pad_id
    log_probs = torch.log_softmax(logits[real], dim=-1)          # (N_real, V)
    return -log_probs.gather(1, targets[real].unsqueeze(1)).mean()
