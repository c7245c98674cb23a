"""Helpers every chapter's checks use: seeded inputs, calls that turn shape
errors into hints, and comparisons that name the likely mistake."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

WrongAnswers = Sequence[tuple[Any, str]]


def _report(message: str) -> None:
    print(f"✓ {message}")


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(*shape: int, gen: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    # float64: the comparisons test the learner's maths, not float32 rounding
    return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale


def _call(fn: Callable, *args, shape_hint: str = "", learner: Callable | None = None, **kwargs):
    """Call the learner's function; turn a shape error inside it into a hint.

    learner: the learner's function when `fn` is a wrapper that calls it (the
    message names what the learner wrote, never a helper of ours).
    """
    try:
        return fn(*args, **kwargs)
    except RuntimeError as err:
        text = str(err)
        if shape_hint and any(w in text for w in ("shape", "size", "dimension")):
            raise AssertionError(f"{getattr(learner or fn, '__name__', 'your function')} raised: {text}\n"
                                 f"Hint: {shape_hint}") from err
        raise


def expect_tensor(value: Any, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise AssertionError(f"{name} should be a torch.Tensor, got {type(value).__name__}")
    return value


def expect_shape(value: Any, expected: Sequence[int], name: str = "output", hint: str = "") -> None:
    """Raise AssertionError naming the expected and actual shape when they differ."""
    expect_tensor(value, name)
    if tuple(value.shape) != tuple(expected):
        raise AssertionError(f"{name} has shape {tuple(value.shape)}, expected {tuple(expected)}"
                             + (f": {hint}" if hint else ""))


def _as_float64(value: Any) -> torch.Tensor:
    return torch.as_tensor(value.detach() if isinstance(value, torch.Tensor) else value).double()


def _fmt(tolerance: float) -> str:
    return f"{tolerance:g}".replace("e-0", "e-")  # 1e-6, not 1e-06


def _close(actual: Any, expected: Any, atol: float, rtol: float = 0.0) -> bool:
    if expected is None:
        return False
    a, e = _as_float64(actual), _as_float64(expected)
    return a.shape == e.shape and bool(torch.allclose(a, e, atol=atol, rtol=rtol))


def _expect_close(actual: Any, expected: Any, what: str, reference: str, *, atol: float = 1e-6,
                  rtol: float = 0.0, wrong_answers: WrongAnswers = (), hint: str = "",
                  passed: str | None = None) -> None:
    """Pass (print `passed`) if actual is close to expected; otherwise raise
    with the hint of the first known wrong answer that `actual` matches."""
    if _close(actual, expected, atol, rtol):
        tolerance = _fmt(atol) if atol else f"a relative {_fmt(rtol)}"
        _report(passed or f"{what} matches {reference} to {tolerance}")
        return
    for wrong, diagnosis in wrong_answers:
        if _close(actual, wrong, atol, rtol):
            raise AssertionError(f"{what} differs from {reference}: {diagnosis}")
    a, e = _as_float64(actual), _as_float64(expected)
    detail = (f"largest difference {(a - e).abs().max().item():.3g}" if a.shape == e.shape
              else f"shape {tuple(a.shape)} instead of {tuple(e.shape)}")
    raise AssertionError(f"{what} differs from {reference} ({detail})" + (f": {hint}" if hint else ""))


def _inputs_unchanged(before: Sequence[torch.Tensor], after: Sequence[torch.Tensor]) -> None:
    if any(not torch.equal(b, a) for b, a in zip(before, after)):
        raise AssertionError("your function changed its inputs in place (for example h += ...): "
                             "compute new tensors instead; autograd needs the old values")


