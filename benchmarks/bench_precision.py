"""bfloat16 autocast against float32: the same recipe's loss curve, and the step time, in one run.

1. Curves: the GPT recipe (course_lib.pretrain.pretrain_gpt) for its first
   --steps steps in float32 and under torch.autocast(bfloat16), same seed, same
   batches; the largest difference between the two loss curves.
2. Step time: one training step (forward, loss, backward, AdamW) at each
   precision, repetitions interleaved so a busy machine slows both alike, at
   the recipe's width and at wider models (bfloat16 pays where the matmuls are
   big enough for the CPU's bfloat16 units to matter more than the casts).

    python benchmarks/bench_precision.py             # 200 steps, 20 repetitions
    python benchmarks/bench_precision.py --quick     # a smoke test

Writes benchmarks/results/precision.md and precision.png.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
from pathlib import Path

import torch
from bench_attention import time_interleaved  # same folder: the shared interleaving timer

from course_lib.gpt import GPT, GPTConfig
from course_lib.precision import autocast_context
from course_lib.pretrain import GPT_RECIPE, deterministic, pretrain_gpt

RESULTS = Path(__file__).resolve().parent / "results" / "precision.md"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few steps and repetitions")
    parser.add_argument("--steps", type=int, default=200, help="recipe steps compared (default %(default)s)")
    parser.add_argument("--reps", type=int, default=20, help="timed repetitions per width and precision")
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default %(default)s, as the recipe)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def curves(steps: int) -> dict[str, list[float]]:
    out = {}
    for precision in ("float32", "bfloat16"):
        with deterministic(0):
            result = pretrain_gpt(seed=0, stop_after=steps, progress=False, precision=precision)
        out[precision] = result.history["loss"]
    return out


def step_times(width: int, reps: int) -> tuple[float, float]:
    r = GPT_RECIPE
    config = GPTConfig(vocab_size=r["vocab_size"], block_size=r["block_size"], n_layer=r["n_layer"],
                       n_head=r["n_head"], n_embd=width)
    torch.manual_seed(0)
    models = {p: GPT(config) for p in ("float32", "bfloat16")}
    optimizers = {p: torch.optim.AdamW(m.parameters(), lr=1e-4) for p, m in models.items()}
    x = torch.randint(config.vocab_size, (r["batch_size"], config.block_size))
    y = torch.roll(x, -1, dims=1)

    def step(precision: str):
        def run() -> None:
            optimizers[precision].zero_grad()
            with autocast_context("cpu", precision):
                loss = models[precision](x, y)[1]
            loss.backward()
            optimizers[precision].step()
        return run

    t32, t16 = time_interleaved(step("float32"), step("bfloat16"), reps)
    return statistics.median(t32), statistics.median(t16)


def plot(losses: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = range(1, len(losses["float32"]) + 1)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(steps, losses["float32"], label="float32", lw=1.5)
    a.plot(steps, losses["bfloat16"], label="bfloat16 autocast", lw=1.0, ls="--")
    a.set_xlabel("step")
    a.set_ylabel("training loss (nats/token)")
    a.set_title("GPT recipe, same seed and batches")
    a.legend()
    diff = [p - q for p, q in zip(losses["bfloat16"], losses["float32"])]
    b.plot(steps, diff, lw=1.0, color="C2")
    b.axhline(0, color="grey", lw=0.5)
    b.set_xlabel("step")
    b.set_ylabel("bfloat16 - float32 loss (nats)")
    b.set_title("difference")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    if args.quick:
        args.steps, args.reps, args.widths = min(args.steps, 5), 2, args.widths[:1]
    torch.set_num_threads(args.threads)
    losses = curves(args.steps)
    diffs = [abs(p - q) for p, q in zip(losses["bfloat16"], losses["float32"])]
    rows = []
    for width in args.widths:
        t32, t16 = step_times(width, args.reps)
        rows.append((width, t32, t16))
        print(f"width {width}: float32 {t32 * 1e3:.1f} ms, bfloat16 {t16 * 1e3:.1f} ms", file=sys.stderr)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    png = args.output.with_suffix(".png")
    plot(losses, png)
    worst = max(range(len(diffs)), key=diffs.__getitem__)
    lines = [
        "# bfloat16 autocast vs float32 (GPT recipe)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s).",
        "",
        f"Loss curves over the recipe's first {args.steps} steps (seed 0, the same batches): largest difference "
        f"**{diffs[worst]:.4f} nats** (at step {worst + 1}, {diffs[worst] / losses['float32'][worst]:.2%} of the "
        f"float32 loss); mean difference {statistics.mean(diffs):.4f} nats; last step "
        f"{losses['float32'][-1]:.4f} (float32) vs {losses['bfloat16'][-1]:.4f} (bfloat16). Plot: {png.name}.",
        "",
        f"Training step (batch {GPT_RECIPE['batch_size']} x {GPT_RECIPE['block_size']} tokens, "
        f"{GPT_RECIPE['n_layer']} layers), medians of {args.reps} interleaved repetitions:",
        "",
        "| n_embd | float32 ms | bfloat16 ms | bfloat16 / float32 |",
        "|---:|---:|---:|---:|",
    ]
    lines += [f"| {w} | {a * 1e3:.1f} | {b * 1e3:.1f} | {b / a:.2f} |" for w, a, b in rows]
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
