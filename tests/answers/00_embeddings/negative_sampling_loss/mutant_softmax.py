def negative_sampling_loss(center, context, negatives):
    # Mistake: a softmax over the true context and the negatives instead of independent binary decisions.
    scores = torch.cat([(center * context).sum(-1, keepdim=True), (negatives @ center.unsqueeze(-1)).squeeze(-1)], 1)
    return F.cross_entropy(scores, torch.zeros(len(center), dtype=torch.long))
