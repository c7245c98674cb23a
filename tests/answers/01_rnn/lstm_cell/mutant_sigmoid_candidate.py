def lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    # Mistake: sigmoid on the candidate g, so the cell can only ever be pushed up.
    h, c = state
    gates = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    i, f, g, o = torch.sigmoid(gates).chunk(4, dim=1)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    return h_new, c_new
