def loss_scaling_step(loss, optimizer, scale):
    # Mistake: the check adds the gradients up in float16, which overflows above 65504 although every gradient is finite.
    (loss * scale).backward()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    for g in grads:
        g /= scale
    total = sum(g.half().abs().sum() for g in grads)
    if not torch.isfinite(total):
        return scale / 2, False
    optimizer.step()
    return scale, True
