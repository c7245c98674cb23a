def rnn_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    # Mistake: multiplies by the weights without transposing torch's (out, in) layout.
    return torch.tanh(x @ weight_ih + bias_ih + h @ weight_hh + bias_hh)
