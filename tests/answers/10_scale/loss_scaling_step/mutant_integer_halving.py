def loss_scaling_step(loss, optimizer, scale):
    # Mistake: scale // 2 rounds down: 3 becomes 1 (not 1.5), and a scale of 1 becomes 0.
    (loss * scale).backward()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    for g in grads:
        g /= scale
    if all(torch.isfinite(g).all() for g in grads):
        optimizer.step()
        return scale, True
    return scale // 2, False
