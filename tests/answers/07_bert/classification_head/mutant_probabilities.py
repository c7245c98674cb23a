def classification_head(hidden, attention_mask, dense, dropout, classifier, pooling="cls"):
    if pooling == "cls":
        summary = hidden[:, 0]
    else:
        if attention_mask is None:
            attention_mask = torch.ones(hidden.shape[:2])
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)
        summary = (hidden * weights).sum(1) / weights.sum(1)
    logits = classifier(dropout(torch.tanh(dense(summary))))
    return torch.softmax(logits, dim=-1)
