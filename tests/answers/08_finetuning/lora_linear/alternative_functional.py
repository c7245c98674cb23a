class LoRALinear(nn.Module):
    """Written with F.linear and nn.Linear's own initialisation for A; merge builds the layer from tensors."""

    def __init__(self, base, rank, alpha):
        super().__init__()
        base.requires_grad_(False)
        self.base = base
        self.rank, self.alpha = rank, alpha
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))

    def delta(self):
        return (self.alpha / self.rank) * (self.lora_B @ self.lora_A)

    def forward(self, x):
        return F.linear(x, self.base.weight, self.base.bias) + F.linear(F.linear(x, self.lora_A), self.lora_B) * (self.alpha / self.rank)

    @torch.no_grad()
    def merge(self):
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        out.weight = nn.Parameter(self.base.weight.detach() + self.delta().detach())
        if self.base.bias is not None:
            out.bias = nn.Parameter(self.base.bias.detach().clone())
        return out
