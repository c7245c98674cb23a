def loss_scaling_step(loss, optimizer, scale):
    # Mistake: the gradients are thrown away after an overflow; they must stay in .grad.
    (loss * scale).backward()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    for g in grads:
        g /= scale
    if all(torch.isfinite(g).all() for g in grads):
        optimizer.step()
        return scale, True
    optimizer.zero_grad()
    return scale / 2, False
