%matplotlib inline

def causal_lm_loss(logits, idx):
    B, T, V = logits.shape
    return F.cross_entropy(logits[:, :-1].reshape(B * (T - 1), V), idx[:, 1:].reshape(-1))
