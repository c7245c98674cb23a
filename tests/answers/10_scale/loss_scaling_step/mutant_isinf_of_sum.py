def loss_scaling_step(loss, optimizer, scale):
    # Mistake: an inf and a -inf sum to nan, which torch.isinf does not see.
    (loss * scale).backward()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    for g in grads:
        g /= scale
    if torch.isinf(torch.stack([g.sum() for g in grads]).sum()):
        return scale / 2, False
    optimizer.step()
    return scale, True
