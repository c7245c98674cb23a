def loss_scaling_step(loss, optimizer, scale):
    scaled = loss * scale
    if not torch.isfinite(scaled):
        return scale / 2, False
    scaled.backward()
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                p.grad /= scale
    optimizer.step()
    return scale, True
