def causal_lm_loss(logits, idx):
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), idx.reshape(-1))
