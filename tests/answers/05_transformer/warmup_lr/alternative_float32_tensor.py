def warmup_lr(step, d_model, warmup):
    """The formula in float32 torch tensors, returned as a 0-d tensor: right to float32's precision
    (about 1e-7 relative; the exercise accepts 1e-6)."""
    step = torch.tensor(float(step), dtype=torch.float32)
    return torch.rsqrt(torch.tensor(float(d_model), dtype=torch.float32)) * torch.minimum(
        torch.rsqrt(step), step / torch.tensor(float(warmup), dtype=torch.float32) ** 1.5)
