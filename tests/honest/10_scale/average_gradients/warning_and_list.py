import warnings


def average_gradients(model):
    world_size = dist.get_world_size()
    grads = [p.grad for p in model.parameters()]
    while None in grads:
        grads.remove(None)  # parameters without a gradient are skipped
    if not grads:
        warnings.warn("no gradient to average")
    for g in grads:
        dist.all_reduce(g, op=dist.ReduceOp.SUM)
        g.div_(world_size)
