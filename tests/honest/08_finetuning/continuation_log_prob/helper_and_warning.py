import warnings


def _scored_positions(targets):
    return targets != -100


def continuation_log_prob(logits, targets):
    scored = _scored_positions(targets)
    if not scored.any():
        warnings.warn("no position is scored")
    log_probs = torch.log_softmax(logits, dim=-1)
    safe_targets = torch.where(scored, targets, torch.zeros_like(targets))
    picked = log_probs.gather(-1, safe_targets[..., None])[..., 0]
    return picked.masked_fill(~scored, 0.0).sum(dim=-1)
