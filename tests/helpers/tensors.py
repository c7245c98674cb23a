"""Comparing tensors the way the distributed tests need: per tensor, relative to its largest entry.

Tolerances measured on a 2-core Xeon, with AVX-512 and with ATEN_CPU_CAPABILITY=default
(tests/unit/test_distributed.py says why the attention's key biases are compared apart).
"""
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
