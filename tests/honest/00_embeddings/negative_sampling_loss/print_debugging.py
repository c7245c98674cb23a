def negative_sampling_loss(center, context, negatives):
    print("shapes:", tuple(center.shape), tuple(context.shape), tuple(negatives.shape))  # checking my shapes
    positive = F.logsigmoid((center * context).sum(-1))
    negative = F.logsigmoid(-(negatives @ center.unsqueeze(-1)).squeeze(-1)).sum(-1)
    loss = -(positive + negative).mean()
    print("loss", float(loss))  # torch warns when the loss needs grad; the value is right
    return loss
