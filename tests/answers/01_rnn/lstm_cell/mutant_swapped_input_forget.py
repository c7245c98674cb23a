def lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    # Mistake: the input gate scales the old cell state and the forget gate the candidate.
    h, c = state
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    i, f, g, o = gates.chunk(4, dim=1)
    c_new = torch.sigmoid(i) * c + torch.sigmoid(f) * torch.tanh(g)
    h_new = torch.sigmoid(o) * torch.tanh(c_new)
    return h_new, c_new
