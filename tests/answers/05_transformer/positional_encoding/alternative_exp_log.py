def positional_encoding(max_len, d_model):
    """Sinusoidal position codes: frequencies as exp(-2i log(10000) / d), sin and cos interleaved by a stack."""
    frequencies = torch.exp(torch.arange(0, d_model, 2).double() * (-math.log(10000.0) / d_model))
    angle = torch.arange(max_len).double()[:, None] * frequencies[None, :]
    return torch.stack([angle.sin(), angle.cos()], dim=-1).reshape(max_len, d_model).float()
