def lstm_cell(x, state, weight_ih, weight_hh, bias_ih, bias_hh):
    h, c = state
    H = h.shape[1]
    z = torch.addmm(bias_ih + bias_hh, x, weight_ih.t()) + torch.mm(h, weight_hh.t())
    input_gate = torch.sigmoid(z[:, 0:H])
    forget_gate = torch.sigmoid(z[:, H:2 * H])
    candidate = torch.tanh(z[:, 2 * H:3 * H])
    output_gate = torch.sigmoid(z[:, 3 * H:4 * H])
    c_next = forget_gate * c + input_gate * candidate
    return output_gate * torch.tanh(c_next), c_next
