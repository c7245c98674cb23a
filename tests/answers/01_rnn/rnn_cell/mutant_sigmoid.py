def rnn_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    # Mistake: sigmoid instead of tanh.
    return torch.sigmoid(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)
