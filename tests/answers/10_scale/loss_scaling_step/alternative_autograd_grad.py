def loss_scaling_step(loss, optimizer, scale):
    params = [p for group in optimizer.param_groups for p in group["params"] if p.requires_grad]
    scaled_grads = torch.autograd.grad(loss * scale, params, allow_unused=True)
    ok = True
    for p, g in zip(params, scaled_grads):
        if g is None:
            continue
        p.grad = g / scale
        if not torch.isfinite(p.grad).all():
            ok = False
    if not ok:
        new_scale, stepped = scale / 2, False
    else:
        optimizer.step()
        new_scale, stepped = scale, True
    return new_scale, stepped
