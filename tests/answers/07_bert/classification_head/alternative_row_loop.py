def classification_head(hidden, attention_mask, dense, dropout, classifier, pooling="cls"):
    rows = []
    for i in range(hidden.shape[0]):
        if pooling == "cls":
            rows.append(hidden[i, 0])
        else:
            real = hidden[i] if attention_mask is None else hidden[i][attention_mask[i].bool()]
            rows.append(real.mean(dim=0))
    x = torch.stack(rows)
    x = dense(x).tanh()
    x = dropout(x)
    return classifier(x)
