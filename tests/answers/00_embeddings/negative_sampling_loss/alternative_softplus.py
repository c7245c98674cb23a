def negative_sampling_loss(center, context, negatives):
    # -log s(x) = softplus(-x), and -log s(-x) = softplus(x)
    positive_score = torch.sum(center * context, dim=1)
    negative_scores = torch.bmm(negatives, center[:, :, None])[:, :, 0]
    per_pair = F.softplus(-positive_score) + F.softplus(negative_scores).sum(dim=1)
    return per_pair.mean()
