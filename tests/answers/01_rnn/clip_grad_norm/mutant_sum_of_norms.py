def clip_grad_norm(parameters, max_norm):
    # Mistake: adds the per-parameter norms instead of taking the norm of all gradients together.
    parameters = [p for p in parameters if p.grad is not None]
    total = sum(p.grad.norm() for p in parameters)
    scale = min(1.0, max_norm / (float(total) + 1e-6))
    for p in parameters:
        p.grad.mul_(scale)
    return total
