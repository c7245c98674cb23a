@torch.no_grad()
def _unscale_and_check(grads, scale):
    finite = True
    for g in grads:
        g.div_(scale)
        finite = finite and bool(torch.isfinite(g).all())
    return finite


def loss_scaling_step(loss, optimizer, scale):
    (loss * scale).backward()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    if _unscale_and_check(grads, scale):
        optimizer.step()
        return scale, True
    return scale / 2, False
