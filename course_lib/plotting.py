"""Plots the notebooks use: curves, heatmaps, gradient norms.

Every function draws on `ax` (or a new figure) and returns the Axes; none calls
plt.show(), so the notebook decides when and how figures appear.
"""
from __future__ import annotations

from typing import Mapping, Sequence, Union

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

__all__ = ["plot_curves", "plot_heatmap", "plot_gradient_norms"]

Curve = Union[Sequence[float], torch.Tensor, np.ndarray, tuple]


def _to_numpy(values) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().float().numpy()
    return np.asarray(values, dtype=float)


def _axes(ax: Axes | None, figsize=(6, 4)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_curves(curves: Mapping[str, Curve], xlabel: str = "step", ylabel: str = "loss",
                title: str | None = None, logy: bool = False, ax: Axes | None = None) -> Axes:
    """One line per entry: name -> ys (plotted against 0..n-1) or name -> (xs, ys)."""
    ax = _axes(ax)
    for name, curve in curves.items():
        if isinstance(curve, tuple) and len(curve) == 2:
            xs, ys = _to_numpy(curve[0]), _to_numpy(curve[1])
        else:
            ys = _to_numpy(curve)
            xs = np.arange(len(ys))
        if xs.shape != ys.shape:
            raise ValueError(f"curve {name!r}: xs has shape {xs.shape} but ys has shape {ys.shape}")
        ax.plot(xs, ys, label=name, marker="o" if len(ys) <= 20 else None, ms=3)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if curves:
        ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_heatmap(matrix, xlabels: Sequence[str] | None = None, ylabels: Sequence[str] | None = None,
                 title: str | None = None, ax: Axes | None = None, cmap: str = "viridis",
                 colorbar: bool = True, annotate: bool = False) -> Axes:
    """A 2-D array as colours: rows top to bottom (ylabels), columns left to right (xlabels).

    For attention weights pass (queries, keys): ylabels = query tokens,
    xlabels = key tokens. annotate=True writes each value in its cell.
    """
    values = _to_numpy(matrix)
    if values.ndim != 2:
        raise ValueError(f"plot_heatmap needs a 2-D matrix, got shape {values.shape}")
    rows, cols = values.shape
    for labels, n, axis in [(xlabels, cols, "xlabels"), (ylabels, rows, "ylabels")]:
        if labels is not None and len(labels) != n:
            raise ValueError(f"{axis} has {len(labels)} labels for {n} {'columns' if axis == 'xlabels' else 'rows'}")
    ax = _axes(ax, figsize=(max(3, 0.4 * cols + 2), max(3, 0.4 * rows + 1)))
    image = ax.imshow(values, cmap=cmap, aspect="auto")
    if xlabels is not None:
        ax.set_xticks(range(cols), [str(x) for x in xlabels], rotation=90 if cols > 8 else 0)
    if ylabels is not None:
        ax.set_yticks(range(rows), [str(y) for y in ylabels])
    if annotate:
        middle = (np.nanmax(values) + np.nanmin(values)) / 2
        for i in range(rows):
            for j in range(cols):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if values[i, j] > middle else "white")
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    if title:
        ax.set_title(title)
    return ax


def plot_gradient_norms(norms: Mapping[str, torch.Tensor | Sequence[float]], ax: Axes | None = None,
                        title: str = "How far back does the gradient reach?") -> Axes:
    """Gradient norm against distance, log scale: name -> norms[k] for k steps back.

    The output of course_lib.rnn.gradient_norm_by_distance plots directly; a
    straight falling line on this log scale is exponential vanishing.
    """
    ax = plot_curves({name: _to_numpy(n) for name, n in norms.items()},
                     xlabel="distance k (steps before the last)",
                     ylabel="||d h_T / d x_(T-k)||", title=title, logy=True, ax=ax)
    for line in ax.get_lines():
        line.set_marker("")
    return ax
