def negative_sampling_loss(center, context, negatives):
    # Mistake: the noise words' scores enter with a plus sign, rewarding high scores for noise.
    positive = F.logsigmoid((center * context).sum(-1))
    negative = F.logsigmoid((negatives @ center.unsqueeze(-1)).squeeze(-1)).sum(-1)
    return -(positive + negative).mean()
