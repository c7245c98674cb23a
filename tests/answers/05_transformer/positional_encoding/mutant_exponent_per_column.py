def positional_encoding(max_len, d_model):
    """Sinusoidal position codes, (max_len, d_model)."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    k = torch.arange(d_model, dtype=torch.float32)      # every column its own frequency
    angle = position / 10000 ** (k / d_model)
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(angle[:, 0::2])
    pe[:, 1::2] = torch.cos(angle[:, 1::2])
    return pe
