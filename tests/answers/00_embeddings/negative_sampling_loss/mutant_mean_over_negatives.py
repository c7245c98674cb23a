def negative_sampling_loss(center, context, negatives):
    # Mistake: averages the k negative terms instead of summing them.
    positive = F.logsigmoid((center * context).sum(-1))
    negative = F.logsigmoid(-(negatives @ center.unsqueeze(-1)).squeeze(-1)).mean(-1)
    return -(positive + negative).mean()
