def classification_head(hidden, attention_mask, dense, dropout, classifier, pooling="cls"):
    # by hand with the layers' weights; the dropout module decides whether to drop
    if pooling == "cls":
        summary = hidden[:, 0, :]
    elif attention_mask is None:
        summary = hidden.mean(dim=1)
    else:
        m = attention_mask.unsqueeze(-1).type_as(hidden)
        summary = torch.einsum("bsd,bsx->bd", hidden, m) / m.sum(dim=1)
    pooled = torch.tanh(F.linear(summary, dense.weight, dense.bias))
    pooled = F.dropout(pooled, p=dropout.p, training=dropout.training)
    return F.linear(pooled, classifier.weight, classifier.bias)
