def causal_lm_loss(logits, idx):
    log_probs = logits[:, :-1].log_softmax(dim=-1)                      # (B, T - 1, V)
    picked = log_probs.gather(-1, idx[:, 1:].unsqueeze(-1)).squeeze(-1)  # log p(next token)
    return -picked.mean()
