def attention_context(scores, values, src_mask):
    weights = torch.softmax(scores.masked_fill(~src_mask, float("-inf")), dim=0)
    weights = torch.nan_to_num(weights)
    context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)
    return context, weights
