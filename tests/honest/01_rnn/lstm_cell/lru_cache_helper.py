import functools


@functools.lru_cache(maxsize=None)
def _gate_names():
    return ("input", "forget", "cell", "output")  # PyTorch's order


def lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state
    gates = dict(zip(_gate_names(), (x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh).chunk(4, dim=-1)))
    c_new = torch.sigmoid(gates["forget"]) * c + torch.sigmoid(gates["input"]) * torch.tanh(gates["cell"])
    return torch.sigmoid(gates["output"]) * torch.tanh(c_new), c_new
