def rnn_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    pre_activation = torch.nn.functional.linear(x, weight_ih, bias_ih)
    pre_activation = pre_activation + torch.einsum("bj,ij->bi", h, weight_hh) + bias_hh
    return pre_activation.tanh()
