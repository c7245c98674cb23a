"""LoRA: fine-tune a big frozen model through small low-rank updates (chapter 8).

Hu et al. (2021) observed that the change fine-tuning makes to a weight matrix
has low "intrinsic rank". So instead of learning a full update dW (d_out x d_in
numbers) they learn dW = B A with A: (r, d_in) and B: (d_out, r), r tiny:

    y = W x + b + (alpha / r) * B (A x)

W and b stay frozen. B starts at zero, so the model starts *exactly* as the
pretrained one and only drifts as far as the data asks. After training, B A can
be added into W ("merged"): inference then costs nothing extra.

``apply_lora`` wraps chosen nn.Linear layers of a model (by default the query
and value projections of attention, as in the paper) and freezes everything
else; ``count_parameters`` shows how few numbers are left to train.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = ["LoRALinear", "apply_lora", "merge_lora", "count_parameters"]


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update (alpha / rank) * B A.

    Args:
        base: the pretrained layer; it is kept (not copied) and frozen.
        rank: r, the rank of the update.
        alpha: the update is scaled by alpha / rank, so that changing the rank
            does not change how big the update is for a given learning rate.
        dropout: dropout on the input of the low-rank branch only.
    """

    def __init__(self, base: nn.Linear, rank: int = 4, alpha: float = 8.0, dropout: float = 0.0):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRALinear wraps an nn.Linear, got {type(base).__name__}")
        if not 1 <= rank <= min(base.in_features, base.out_features):
            raise ValueError(f"rank must be between 1 and min(in, out) = "
                             f"{min(base.in_features, base.out_features)}, got {rank}")
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.rank = rank
        self.alpha = alpha
        self.scaling = alpha / rank
        factory = dict(device=base.weight.device, dtype=base.weight.dtype)
        # A random, B zero: B A = 0 at the start, yet the gradient reaching B
        # (which is proportional to A x) is not zero, so training can begin.
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, **factory))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, **factory))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # nn.Linear's own initialisation
        self.dropout = nn.Dropout(dropout)

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    def delta_weight(self) -> Tensor:
        """The update the adapter adds to the base weight, (out_features, in_features)."""
        return self.scaling * (self.lora_B @ self.lora_A)

    def forward(self, x: Tensor) -> Tensor:
        """x: (..., in_features) -> (..., out_features)."""
        # Two thin matmuls, x A^T then B^T: never builds the full (out, in) update.
        return self.base(x) + self.scaling * (self.dropout(x) @ self.lora_A.T @ self.lora_B.T)

    @torch.no_grad()
    def merge(self) -> nn.Linear:
        """A plain nn.Linear with weight W + (alpha / rank) B A: same outputs, no extra cost."""
        merged = nn.Linear(self.in_features, self.out_features, bias=self.base.bias is not None,
                           device=self.base.weight.device, dtype=self.base.weight.dtype)
        merged.weight.copy_(self.base.weight + self.delta_weight())
        if self.base.bias is not None:
            merged.bias.copy_(self.base.bias)
        return merged

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}, alpha={self.alpha}"


def apply_lora(
    model: nn.Module,
    target_names: Sequence[str] = ("q_proj", "v_proj"),
    rank: int = 4,
    alpha: float = 8.0,
    dropout: float = 0.0,
    trainable: Sequence[str] = (),
) -> nn.Module:
    """Freeze `model` and put a LoRALinear on every nn.Linear whose attribute name is in `target_names`.

    Works in place and returns `model`. Only the LoRA matrices train, plus the
    parameters whose full name starts with one of `trainable` (e.g. ("head",)
    for a freshly initialised classification head, which has nothing to adapt
    from). Raises ValueError if no layer matches.
    """
    for p in model.parameters():
        p.requires_grad_(False)
    targets = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
               if name in target_names and isinstance(child, nn.Linear)]
    if not targets:
        linear_names = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)})
        raise ValueError(f"no nn.Linear named {tuple(target_names)} in the model; its linear layers are named "
                         f"{linear_names}")
    for parent, name, child in targets:
        setattr(parent, name, LoRALinear(child, rank, alpha, dropout))
    for name, p in model.named_parameters():
        if any(name == t or name.startswith(t + ".") for t in trainable):
            p.requires_grad_(True)
    return model


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear in `model` by its merged nn.Linear (in place); returns `model`."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                setattr(parent, name, child.merge())
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) numbers of parameters; tied parameters are counted once."""
    params = list(model.parameters())  # .parameters() already skips repeats of a shared tensor
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
