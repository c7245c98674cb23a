def rnn_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    # Mistake: no non-linearity.
    return x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
