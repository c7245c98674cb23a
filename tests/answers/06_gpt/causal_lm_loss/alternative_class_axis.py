def causal_lm_loss(logits, idx):
    # cross_entropy also takes (B, V, T) logits with (B, T) targets
    return F.cross_entropy(logits[:, :-1].transpose(1, 2), idx[:, 1:])
