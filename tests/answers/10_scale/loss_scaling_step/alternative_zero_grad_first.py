def loss_scaling_step(loss, optimizer, scale):
    optimizer.zero_grad(set_to_none=True)  # nothing left from an earlier step
    (scale * loss).backward()
    finite = True
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is None:
                continue
            p.grad.div_(scale)
            finite = finite and bool(p.grad.isfinite().all())
    if finite:
        optimizer.step()
    return (scale if finite else scale / 2), finite
