def attention_context(scores, values, src_mask):
    weights = torch.softmax(scores.masked_fill(src_mask, -1e9), dim=-1)
    context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)
    return context, weights
