def negative_sampling_loss(center, context, negatives):
    # Mistake: sums over the batch instead of averaging.
    positive = F.logsigmoid((center * context).sum(-1))
    negative = F.logsigmoid(-(negatives @ center.unsqueeze(-1)).squeeze(-1)).sum(-1)
    return -(positive + negative).sum()
