def negative_sampling_loss(center, context, negatives):
    # the same loss as binary cross-entropy: label 1 for the true context, 0 for each noise word
    scores = torch.cat([(center * context).sum(-1, keepdim=True), torch.einsum("bkd,bd->bk", negatives, center)], 1)
    labels = torch.zeros_like(scores)
    labels[:, 0] = 1.0
    return F.binary_cross_entropy_with_logits(scores, labels, reduction="sum") / len(center)
