def perplexity(logits, targets):
    # log p(target) = logit[target] - logsumexp(logits), written out by hand
    flat_logits = logits.reshape(-1, logits.shape[-1]).double()
    flat_targets = targets.reshape(-1)
    picked = flat_logits[torch.arange(len(flat_targets)), flat_targets]
    mean_nll = (torch.logsumexp(flat_logits, dim=1) - picked).mean()
    return math.exp(mean_nll.item())
