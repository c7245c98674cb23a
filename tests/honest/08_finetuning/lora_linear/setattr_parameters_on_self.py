class LoRALinear(nn.Module):
    """A frozen nn.Linear plus (alpha / rank) * B A, its two factors made by name."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        self.base.requires_grad_(False)
        self.scaling = alpha / rank
        starts = {"lora_A": torch.randn(rank, base.in_features) / math.sqrt(base.in_features),
                  "lora_B": torch.zeros(base.out_features, rank)}
        for name, start in starts.items():
            setattr(self, name, nn.Parameter(start))

    def forward(self, x):
        down, up = getattr(self, "lora_A"), getattr(self, "lora_B")
        return self.base(x) + self.scaling * (x @ down.T @ up.T)

    def merge(self):
        merged = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + self.scaling * self.lora_B @ self.lora_A)
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        return merged
