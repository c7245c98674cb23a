def loss_scaling_step(loss, optimizer, scale):
    (loss * scale).backward()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    torch._foreach_div_(grads, scale)
    found_inf = not torch.isfinite(torch.stack([g.abs().max() for g in grads])).all()
    if found_inf:
        return scale * 0.5, False
    optimizer.step()
    return scale, True
