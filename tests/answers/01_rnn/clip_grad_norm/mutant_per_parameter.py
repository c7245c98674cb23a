def clip_grad_norm(parameters, max_norm):
    # Mistake: clips each gradient by its own norm instead of the global norm.
    parameters = [p for p in parameters if p.grad is not None]
    norms = []
    for p in parameters:
        norm = p.grad.norm()
        norms.append(norm)
        if norm > max_norm:
            p.grad.mul_(max_norm / (norm + 1e-6))
    return torch.stack(norms).norm()
