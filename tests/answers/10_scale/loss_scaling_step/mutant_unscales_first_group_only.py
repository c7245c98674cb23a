def loss_scaling_step(loss, optimizer, scale):
    (loss * scale).backward()
    grads = [p.grad for p in optimizer.param_groups[0]["params"] if p.grad is not None]
    for g in grads:
        g /= scale
    if all(torch.isfinite(g).all() for g in grads):
        optimizer.step()
        return scale, True
    return scale / 2, False
