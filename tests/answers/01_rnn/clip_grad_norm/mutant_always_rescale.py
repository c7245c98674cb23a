def clip_grad_norm(parameters, max_norm):
    # Mistake: rescales to max_norm even when the norm is already smaller.
    parameters = [p for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in parameters))
    for p in parameters:
        p.grad.mul_(max_norm / (total + 1e-6))
    return total
