def causal_lm_loss(logits, idx):
    per_token = F.cross_entropy(logits[:, :-1].transpose(1, 2), idx[:, 1:], reduction="none")  # (B, T - 1)
    return per_token.sum(dim=1).mean()
