def loss_scaling_step(loss, optimizer, scale):
    scaled_loss = loss * scale
    scaled_loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    # inf / scale is still inf and nan / scale still nan: checking before unscaling finds the same
    overflow = any(torch.isinf(p.grad).any() or torch.isnan(p.grad).any() for p in params)
    for p in params:
        p.grad.mul_(1.0 / scale)
    if overflow:
        return scale / 2, False
    optimizer.step()
    return scale, True
