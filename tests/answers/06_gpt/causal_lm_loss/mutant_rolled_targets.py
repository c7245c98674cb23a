def causal_lm_loss(logits, idx):
    V = logits.shape[-1]
    targets = torch.roll(idx, shifts=-1, dims=1)   # the last position "predicts" the first token
    return F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
