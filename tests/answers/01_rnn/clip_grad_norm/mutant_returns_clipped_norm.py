def clip_grad_norm(parameters, max_norm):
    # Mistake: returns the norm after clipping; callers log the norm before it.
    parameters = [p for p in parameters if p.grad is not None]
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in parameters))
    scale = min(1.0, max_norm / (float(total) + 1e-6))
    for p in parameters:
        p.grad.mul_(scale)
    return torch.sqrt(sum((p.grad ** 2).sum() for p in parameters))
