def clip_grad_norm(parameters, max_norm):
    # Mistake: assumes every parameter has a gradient (frozen ones have grad None).
    parameters = list(parameters)
    total = torch.sqrt(sum((p.grad ** 2).sum() for p in parameters))
    scale = min(1.0, max_norm / (float(total) + 1e-6))
    for p in parameters:
        p.grad.mul_(scale)
    return total
