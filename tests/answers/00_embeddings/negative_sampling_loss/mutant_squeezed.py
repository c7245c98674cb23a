def negative_sampling_loss(center, context, negatives):
    # Mistake: squeeze() drops the k axis when k = 1, so the sum "over the negatives" sums over the batch.
    positive = F.logsigmoid((center * context).sum(-1))
    scores = torch.bmm(negatives, center.unsqueeze(-1)).squeeze()
    negative = F.logsigmoid(-scores).sum(-1)
    return -(positive + negative).mean()
