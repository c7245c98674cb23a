def loss_scaling_step(loss, optimizer, scale):
    (loss * scale).backward()
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    torch._foreach_div_([p.grad for p in params], scale)
    # the total norm is inf or nan exactly when some gradient is (for gradients far below 1e19)
    norm = torch.nn.utils.get_total_norm([p.grad for p in params])
    if not torch.isfinite(norm):
        return scale / 2, False
    optimizer.step()
    return scale, True
