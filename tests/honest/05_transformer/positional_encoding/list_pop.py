def positional_encoding(max_len, d_model):
    columns = []
    for i in range(0, d_model, 2):
        angle = torch.arange(max_len, dtype=torch.float32) / 10000 ** (i / d_model)
        columns += [torch.sin(angle), torch.cos(angle)]
    if len(columns) > d_model:  # an odd d_model: no cosine for the last pair
        columns.pop()
    return torch.stack(columns, dim=1)
