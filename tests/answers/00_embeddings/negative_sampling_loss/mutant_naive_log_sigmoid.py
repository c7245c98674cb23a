def negative_sampling_loss(center, context, negatives):
    # Mistake: log(sigmoid(x)) underflows to log(0) = -inf for very negative x.
    positive = torch.log(torch.sigmoid((center * context).sum(-1)))
    negative = torch.log(torch.sigmoid(-(negatives @ center.unsqueeze(-1)).squeeze(-1))).sum(-1)
    return -(positive + negative).mean()
