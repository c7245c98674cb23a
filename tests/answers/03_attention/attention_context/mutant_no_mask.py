def attention_context(scores, values, src_mask):
    weights = torch.softmax(scores, dim=-1)
    context = (weights.unsqueeze(-1) * values).sum(dim=1)
    return context, weights
