def average_gradients(model):
    world_size = dist.get_world_size()
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.data, op=dist.ReduceOp.SUM)
            p.data /= world_size
