"""Mixed precision: matmuls in 16 bits, weights and optimizer state in 32.

torch.autocast runs the operations that gain from it (matmuls, attention) in
bfloat16 or float16 and keeps those that lose accuracy in 16 bits (the loss's
log-softmax, for one; torch keeps the lists per device) in float32; the weights
stay float32, so small updates are not rounded away. bfloat16 keeps float32's
range (8 exponent bits) with 8 significant bits; float16 keeps 11 significant
bits but only 5 of exponent, so small gradients underflow to zero unless the
loss is scaled up first: loss scaling, which torch.amp.GradScaler does and
`loss_scaling_step` writes out.
"""
from __future__ import annotations

import platform
from contextlib import ExitStack, nullcontext

import torch
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel

__all__ = ["PRECISIONS", "autocast_context", "grad_scaler", "loss_scaling_step"]

# The precisions a recipe may ask for: the dtype autocast runs matmuls in.
# Weights, optimizer state and the loss stay float32 in all three ("mixed").
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


def autocast_context(device: str, precision: str):
    """torch.autocast for `precision` on `device`'s type, or nothing for float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return nullcontext()
    device_type = torch.device(device).type
    if device_type == "cpu" and _fused_cpu_attention_breaks():
        stack = ExitStack()
        stack.enter_context(torch.autocast(device_type=device_type, dtype=dtype))
        stack.enter_context(sdpa_kernel([SDPBackend.MATH]))
        return stack
    return torch.autocast(device_type=device_type, dtype=dtype)


def _fused_cpu_attention_breaks() -> bool:
    """True on an x86 CPU whose torch kernels run below AVX-512 (ATEN_CPU_CAPABILITY=avx2 or default).

    There torch 2.13's fused CPU attention in 16 bits decides from the hardware
    (AMX, AVX-512 BF16) that it may pack its inputs, and the packing routine
    then refuses because the kernels in use are not AVX-512's: "pack_vnni2 is
    only supported when avx512 is supported" (seen on this course's AVX-512
    machine with the kernel level lowered). Attention then runs as plain
    matmuls (the "math" backend): the same numbers, a little slower.
    """
    return platform.machine().lower() in ("x86_64", "amd64") and \
        not torch.backends.cpu.get_cpu_capability().upper().startswith("AVX512")


def grad_scaler(device: str, precision: str) -> "torch.amp.GradScaler | None":
    """A GradScaler for float16, None otherwise.

    float16 keeps only 5 exponent bits: gradients below about 6e-8 round to
    zero. Scaling the loss by a large factor lifts them into range; the
    scaler divides it out before the optimizer step and skips steps whose
    gradients overflowed, lowering the factor. bfloat16 has float32's 8
    exponent bits and needs no scaling.
    """
    if precision != "float16":
        return None
    return torch.amp.GradScaler(torch.device(device).type)


def loss_scaling_step(loss: Tensor, optimizer: torch.optim.Optimizer, scale: float) -> tuple[float, bool]:
    """One optimizer step with a scaled loss; return (new_scale, stepped). Chapter 10's exercise.

    Backward on loss * scale (the gradients flowing back are `scale` times
    larger, above float16's underflow), then divide every gradient by scale
    so that clipping and the optimizer see the true one. If any gradient is
    inf or nan, the scale was too large: skip the step (the weights and the
    optimizer state stay as they were) and halve the scale. Otherwise step and
    keep the scale. This is torch.amp.GradScaler's step with growth_interval
    so long that the scale never grows; GradScaler also doubles the scale after
    every 2000 steps without an overflow, to find the largest that fits.
    Call optimizer.zero_grad() before.
    """
    (loss * scale).backward()
    grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    for g in grads:
        g.div_(scale)
    if all(bool(torch.isfinite(g).all()) for g in grads):
        optimizer.step()
        return scale, True
    return scale / 2, False
