def lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    # Mistake: h = o * c, without squashing the cell state through tanh.
    h, c = state
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    i, f, g, o = gates.chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * c_new
    return h_new, c_new
