import copy


class LoRALinear(nn.Module):
    def __init__(self, base, rank, alpha):
        super().__init__()
        self.base = base
        for param in base.parameters():
            param.requires_grad = False
        self.scale = alpha / rank
        self.lora_A = nn.Parameter(0.01 * torch.randn(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x):
        low = torch.einsum("...i,ri->...r", x, self.lora_A)
        return self.base(x) + self.scale * torch.einsum("...r,or->...o", low, self.lora_B)

    def merge(self):
        merged = copy.deepcopy(self.base)
        with torch.no_grad():
            merged.weight += self.scale * torch.einsum("or,ri->oi", self.lora_B, self.lora_A)
        return merged
