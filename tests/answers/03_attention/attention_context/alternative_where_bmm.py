def attention_context(scores, values, src_mask):
    masked = torch.where(src_mask, scores, torch.full_like(scores, float("-inf")))
    weights = F.softmax(masked, dim=1)
    return torch.bmm(weights[:, None, :], values)[:, 0, :], weights
