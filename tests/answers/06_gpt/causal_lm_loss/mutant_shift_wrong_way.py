def causal_lm_loss(logits, idx):
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, 1:].reshape(-1, V), idx[:, :-1].reshape(-1))
