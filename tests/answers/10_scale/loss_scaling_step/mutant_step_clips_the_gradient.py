def loss_scaling_step(loss, optimizer, scale):
    (loss * scale).backward()
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    for p in params:
        p.grad /= scale
    norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
    if torch.isfinite(norm):
        optimizer.step()
        return scale, True
    return scale / 2, False
