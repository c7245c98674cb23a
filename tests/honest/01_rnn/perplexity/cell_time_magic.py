%%time
def perplexity(logits, targets):
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
    return math.exp(nll.item())
