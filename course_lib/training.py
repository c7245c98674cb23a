"""A small, general training loop, the learning-rate schedules, and checkpoints in safetensors.

fit() knows nothing about the model or the data: batch_fn(step) makes a batch
and loss_fn(model, batch) turns it into a scalar loss. That one loop trains
every model of the course, from the char-RNN to GPT. The schedules are the
three the course's models were trained with: the Transformer paper's inverse
square root (chapter 5), GPT's cosine (chapter 6), BERT's linear decay
(chapter 7).
"""
from __future__ import annotations

import dataclasses
import io
import json
import math
import os
import time
from typing import Any, Callable

import torch
import torch.nn as nn

from course_lib import fast_mode

__all__ = ["fit", "warmup_inverse_sqrt_lr", "warmup_inverse_sqrt_scheduler", "warmup_cosine_lr", "warmup_linear_decay",
           "save_checkpoint", "load_checkpoint", "read_checkpoint_config"]

History = dict[str, list]
_RESERVED = ("step", "loss", "grad_norm", "lr", "eval_step")


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch_fn: Callable[[int], Any],
    loss_fn: Callable[[nn.Module, Any], torch.Tensor],
    steps: int,
    *,
    clip_norm: float | None = None,
    scheduler: Any = None,
    eval_fn: Callable[[nn.Module], float | dict[str, float]] | None = None,
    eval_every: int | None = None,
    progress: bool = True,
    live_plot: bool | None = None,
    grad_fn: Callable[[nn.Module, Any], float | torch.Tensor] | None = None,
    scaler: Any = None,
) -> History:
    """Train for `steps` optimizer steps; return the history.

    batch_fn(step) -> batch           step counts from 0
    loss_fn(model, batch) -> loss     a scalar tensor
    eval_fn(model) -> float or {name: float}, run under torch.no_grad() in eval
        mode every `eval_every` steps (default: 10 times per run) and after the
        last step.
    clip_norm: clip the total gradient norm to this value (None: no clipping;
        the norm is recorded either way, to see when clipping would act).
    scheduler: anything with .step(), called after each optimizer step.
    live_plot: True draws the loss curve, updated in place, when running in a
        Jupyter kernel; elsewhere (terminal, tests) it is ignored. None = False.
    grad_fn(model, batch) -> loss: fills the gradients of one step's batch
        (backward included) and returns the loss to log; for steps that are
        more than one backward pass (gradient accumulation, several
        processes: course_lib.distributed.data_parallel_backward). Default:
        loss_fn(model, batch).backward().
    scaler: a torch.amp.GradScaler when grad_fn scales the loss (float16):
        the gradients are unscaled before clipping, and the scaler steps the
        optimizer (skipping steps whose gradients overflowed).

    Under the autograder (course_lib.fast_mode()) a run is a few steps that
    only prove the code runs: eval_fn is then called after the last step only,
    and there is no live plot, since both would cost more than the training.

    History (a dict of lists): "step" (1..steps), "loss", "grad_norm" (before
    clipping), "lr", and for evaluations "eval_step" plus one list per metric
    (a float from eval_fn is stored as "eval").
    """
    from tqdm.auto import tqdm  # a widget bar in notebooks, a text bar in terminals

    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    fast = fast_mode()
    eval_every = steps if fast else (eval_every or max(1, steps // 10))
    history: History = {"step": [], "loss": [], "grad_norm": [], "lr": [], "eval_step": []}
    params = [p for p in model.parameters() if p.requires_grad]
    plot = _LivePlot() if live_plot and not fast and _in_jupyter_kernel() else None
    smooth = None

    model.train()
    bar = tqdm(range(steps), disable=not progress, desc="training", dynamic_ncols=True)
    for step in bar:
        optimizer.zero_grad(set_to_none=True)
        if grad_fn is None:
            loss = loss_fn(model, batch_fn(step))
            loss.backward()
        else:
            loss = grad_fn(model, batch_fn(step))
        if scaler is not None:
            scaler.unscale_(optimizer)  # clip and record the true gradient, not the scaled one
        # torch's clip_grad_norm_ rather than course_lib.rnn.clip_grad_norm: the
        # two give the same result (tests/unit/test_rnn.py), but torch's runs fused
        # kernels, which matters on a GPU and for models with many tensors.
        if clip_norm is not None:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, clip_norm)
        else:
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        if scheduler is not None:
            scheduler.step()

        loss_value = loss.item() if isinstance(loss, torch.Tensor) else float(loss)  # grad_fn may return a float
        if not math.isfinite(loss_value):
            raise FloatingPointError(
                f"loss became {loss_value} at step {step + 1}: try a lower learning rate "
                "or gradient clipping (clip_norm=1.0)"
            )
        history["step"].append(step + 1)
        history["loss"].append(loss_value)
        history["grad_norm"].append(float(grad_norm))
        history["lr"].append(optimizer.param_groups[0]["lr"])
        smooth = loss_value if smooth is None else 0.95 * smooth + 0.05 * loss_value

        last = step + 1 == steps
        if eval_fn is not None and ((step + 1) % eval_every == 0 or last):
            _evaluate(model, eval_fn, step + 1, history)
        if progress and (step % 10 == 0 or last):
            postfix = {"loss": f"{smooth:.3f}"}
            postfix.update({k: f"{v[-1]:.3f}" for k, v in history.items()
                            if k not in _RESERVED and v})
            bar.set_postfix(postfix, refresh=False)
        if plot is not None:
            plot.update(history, force=last)
    bar.close()
    return history


def _evaluate(model: nn.Module, eval_fn: Callable, step: int, history: History) -> None:
    model.eval()
    with torch.no_grad():
        result = eval_fn(model)
    model.train()
    metrics = result if isinstance(result, dict) else {"eval": result}
    history["eval_step"].append(step)
    for name, value in metrics.items():
        if name in _RESERVED:
            raise ValueError(f"eval_fn returned a metric named {name!r}, which fit() uses itself")
        history.setdefault(name, []).append(float(value))


def _in_jupyter_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class _LivePlot:
    """A loss plot redrawn in place in the notebook output.

    Drawn on a bare matplotlib Figure (not pyplot) and shown as a PNG, so it
    does not depend on the notebook's matplotlib backend and pyplot never
    shows a duplicate at the end of the cell. Redraws at most once a second:
    rendering costs CPU that training needs.
    """

    def __init__(self, min_interval: float = 1.0):
        from IPython.display import display
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(8, 3.2), dpi=80)
        self.min_interval = min_interval
        self.last_draw = 0.0
        self.handle = display(self._image(), display_id=True)

    def _image(self):
        from IPython.display import Image

        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png")
        return Image(data=buffer.getvalue(), format="png")

    def update(self, history: History, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_draw < self.min_interval:
            return
        self.last_draw = now
        metrics = [k for k in history if k not in _RESERVED and history[k]]
        # losses share the training loss's axes; other metrics (perplexity, accuracy) get their own
        losses = [k for k in metrics if "loss" in k]
        others = [k for k in metrics if k not in losses]
        self.fig.clear()
        axes = self.fig.subplots(1, 2 if others else 1, squeeze=False)[0]
        ax = axes[0]
        ax.plot(history["step"], history["loss"], lw=0.8, alpha=0.4, label="train loss")
        if len(history["loss"]) >= 20:
            k = max(5, len(history["loss"]) // 50)
            smooth = torch.tensor(history["loss"]).unfold(0, k, 1).mean(1)
            ax.plot(history["step"][k - 1:], smooth.tolist(), lw=1.5, label=f"train loss, mean of {k} steps")
        for name in losses:
            ax.plot(history["eval_step"][-len(history[name]):], history[name], marker="o", ms=3, label=name)
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.legend(loc="upper right")
        for name in others:
            axes[1].plot(history["eval_step"][-len(history[name]):], history[name], marker="o", ms=3, label=name)
        if others:
            axes[1].set_xlabel("step")
            axes[1].legend(loc="best")
        self.fig.tight_layout()
        self.handle.update(self._image())


# ---------------------------------------------------------------------------
# Learning-rate schedules. Each rises for a few warm-up steps (Adam's moment
# estimates are poor at first, so early steps must be small), then falls.


def warmup_inverse_sqrt_lr(step: int, d_model: int, warmup: int) -> float:
    """lr = d_model^-0.5 * min(step^-0.5, step * warmup^-1.5), step counted from 1.

    Rises linearly for ``warmup`` steps, peaks at step == warmup, then decays as
    1/sqrt(step). The warm-up keeps early updates small while Adam's moment
    estimates are still poor and post-LN gradients near the output are large.
    """
    if step < 1:
        raise ValueError(f"step is counted from 1, got {step}")
    return d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


def warmup_inverse_sqrt_scheduler(
    optimizer: torch.optim.Optimizer, d_model: int, warmup: int, factor: float = 1.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """LambdaLR following ``warmup_inverse_sqrt_lr``; call ``scheduler.step()`` after each optimizer step.

    LambdaLR *multiplies* the optimizer's lr by the schedule, so create the
    optimizer with lr=1.0 to get the paper's values (scaled by ``factor``).
    """
    # LambdaLR counts from 0 and evaluates before the first step; the schedule counts from 1.
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: factor * warmup_inverse_sqrt_lr(i + 1, d_model, warmup)
    )


def warmup_cosine_lr(step: int, max_lr: float, warmup: int, total: int, min_lr: float = 0.0) -> float:
    """Learning rate at optimizer step `step` (from 0): linear warm-up, then cosine decay.

    Rises from max_lr / warmup to max_lr over the first `warmup` steps, then
    follows half a cosine down to min_lr at step `total`.
    """
    if step < warmup:
        return max_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def warmup_linear_decay(steps: int, warmup: float = 0.1):
    """BERT's learning-rate schedule, as a factor for torch.optim.lr_scheduler.LambdaLR.

    The factor rises linearly over the first `warmup` fraction of `steps` (at
    least one step), then falls linearly to 0 at the last step.
    """
    warm = max(1, int(warmup * steps))
    return lambda i: min((i + 1) / warm, max(0.0, (steps - i) / max(1, steps - warm)))


# ---------------------------------------------------------------------------
# Checkpoints: tensors in safetensors (never pickle: loading a pickle can run
# arbitrary code), the model's config as JSON in the file's metadata.

_CONFIG_KEY = "course_lib_config"


def save_checkpoint(model: nn.Module, path: str | os.PathLike, config: dict | None = None) -> None:
    """Write model's weights and `config` (default: model.config) to a .safetensors file.

    config must be JSON-serialisable: the constructor arguments, so that
    load_checkpoint(ModelClass, path) can rebuild the model.
    """
    from safetensors.torch import save_file

    if config is None:
        config = getattr(model, "config", None)
    if config is None:
        raise ValueError("pass config=..., the model's constructor arguments (the model has no .config)")
    config = _as_dict(config)
    try:
        config_json = json.dumps(config, sort_keys=True)
    except TypeError as err:
        raise TypeError(f"config must be JSON-serialisable (numbers, strings, lists, dicts): {err}") from None
    # clone: safetensors refuses tensors sharing memory (tied weights), and
    # needs contiguous CPU tensors
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    save_file(tensors, os.fspath(path), metadata={_CONFIG_KEY: config_json})


def read_checkpoint_config(path: str | os.PathLike) -> dict:
    """The config stored in a checkpoint written by save_checkpoint."""
    from safetensors import safe_open

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no checkpoint file at {path!r}")
    try:
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as err:  # safetensors raises its own error type for corrupt files
        raise ValueError(f"{path!r} is not a readable safetensors file: {err}") from None
    if _CONFIG_KEY not in metadata:
        raise ValueError(f"{path!r} has no course_lib config: was it written by save_checkpoint?")
    return json.loads(metadata[_CONFIG_KEY])


def load_checkpoint(model_or_cls: nn.Module | type[nn.Module], path: str | os.PathLike,
                    config: dict | None = None) -> nn.Module:
    """Load weights saved by save_checkpoint; returns the model.

    model_or_cls: a model instance (its weights are replaced) or a model class
    (built as cls(**stored_config)). The file is refused, with the mismatch
    named, when its config differs from `config` (default: the instance's
    .config, if it has one) or when tensor names or shapes differ.
    """
    from safetensors.torch import load_file

    stored = read_checkpoint_config(path)
    if isinstance(model_or_cls, type):
        try:
            model = model_or_cls(**stored)
        except TypeError as err:
            raise ValueError(f"cannot build {model_or_cls.__name__} from the stored config {stored}: {err}") from None
    else:
        model = model_or_cls
        expected = config if config is not None else getattr(model, "config", None)
        if expected is not None:
            problems = _config_differences(stored, json.loads(json.dumps(_as_dict(expected))))
            if problems:
                raise ValueError(f"checkpoint {os.fspath(path)!r} was saved with a different config: "
                                 + "; ".join(problems))

    tensors = load_file(os.fspath(path), device="cpu")
    expected_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    problems = [f"{k}: file {tuple(tensors[k].shape)}, model {shape}"
                for k, shape in expected_shapes.items() if k in tensors and tuple(tensors[k].shape) != shape]
    missing = sorted(set(expected_shapes) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected_shapes))
    if missing:
        problems.append(f"missing from the file: {missing[:8]}")
    if unexpected:
        problems.append(f"in the file but not in the model: {unexpected[:8]}")
    if problems:
        raise ValueError(f"checkpoint {os.fspath(path)!r} does not fit {type(model).__name__}: "
                         + "; ".join(problems))
    model.load_state_dict(tensors)
    return model


def _as_dict(config):
    # model configs are often dataclasses (GPTConfig, BertConfig): store their fields
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else config


def _config_differences(stored: dict, expected: dict) -> list[str]:
    out = []
    for key in sorted(set(stored) | set(expected)):
        if key not in expected:
            out.append(f"{key}: file {stored[key]!r}, not in the model's config")
        elif key not in stored:
            out.append(f"{key}: missing from the file, model {expected[key]!r}")
        elif stored[key] != expected[key]:
            out.append(f"{key}: file {stored[key]!r}, model {expected[key]!r}")
    return out
