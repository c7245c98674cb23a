@torch.no_grad()
def _total_norm(grads):
    return torch.sqrt(sum(((g ** 2).sum() for g in grads), torch.zeros(())))


def clip_grad_norm(parameters, max_norm):
    grads = [p.grad for p in parameters if p.grad is not None]
    total = _total_norm(grads)
    if total > max_norm:
        for g in grads:
            g.mul_(max_norm / (total + 1e-6))
    return total
