def perplexity(logits, targets):
    vocab = logits.size(-1)
    return F.cross_entropy(logits.view(-1, vocab), targets.view(-1)).exp().item()
