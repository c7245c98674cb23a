"""Tensors for the tests: float64 inputs from their own generator, and comparisons per tensor, relative to
its largest entry (the distributed tests).

Tolerances measured on a 2-core Xeon, with AVX-512 and with ATEN_CPU_CAPABILITY=default
(tests/unit/test_distributed.py says why the attention's key biases are compared apart).
"""
import torch

# the library's layers compared with torch's in float64, where the only differences are summation order
DT = torch.float64
TOL = dict(atol=1e-6, rtol=1e-6)
GRAD_RTOL = 1e-5     # of the largest entry of each gradient (measured: 5e-7)
WEIGHT_RTOL = 1e-4   # of the largest entry of each weight after 20-40 AdamW steps (measured: 7e-6)


def assert_close_per_tensor(got: dict, want: dict, rtol: float, skip=()) -> None:
    assert got.keys() == want.keys()
    for name in want:
        if name in skip:
            continue
        scale = want[name].abs().max().clamp_min(1e-12)
        worst = float((got[name] - want[name]).abs().max() / scale)
        assert worst <= rtol, f"{name}: differs by {worst:.2e} of its largest entry (allowed {rtol:.0e})"


def randn(*shape, seed=0):
    """A float64 tensor from its own generator: the tests' inputs do not depend on the order tests run in."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DT)
