def warmup_lr(step, d_model, warmup):
    """The same formula computed with torch, returned as a 0-d tensor."""
    step = torch.tensor(float(step), dtype=torch.float64)
    return torch.rsqrt(torch.tensor(float(d_model), dtype=torch.float64)) * torch.minimum(
        torch.rsqrt(step), step / warmup ** 1.5)
