def rnn_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    # Mistake: drops the hidden-to-hidden bias.
    return torch.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T)
