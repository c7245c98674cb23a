def rnn_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    # Mistake: the new state does not depend on the previous one.
    return torch.tanh(x @ weight_ih.T + bias_ih + bias_hh)
