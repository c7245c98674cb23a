def average_gradients(model):
    n = dist.get_world_size()
    for name, param in model.named_parameters():
        if param.grad is None:
            continue
        total = param.grad.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        param.grad = total / n
