class _Affine:
    """The cell's two affine maps, kept by name."""

    def __init__(self, **weights):
        for name, value in weights.items():
            setattr(self, name, value)

    def apply(self, name, x):
        return x @ getattr(self, "weight_" + name).T + getattr(self, "bias_" + name)


def rnn_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    maps = _Affine(weight_ih=weight_ih, weight_hh=weight_hh, bias_ih=bias_ih, bias_hh=bias_hh)
    return torch.tanh(maps.apply("ih", x) + maps.apply("hh", h))
