def average_gradients(model):
    # gloo (torch >= 2.x) and NCCL both support ReduceOp.AVG: the mean in one call
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.AVG)
