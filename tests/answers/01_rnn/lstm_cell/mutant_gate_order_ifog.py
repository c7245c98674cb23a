def lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    # Mistake: splits the gates as i, f, o, g; torch's order is i, f, g, o.
    h, c = state
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    i, f, o, g = gates.chunk(4, dim=1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(c_new)
    return h_new, c_new
