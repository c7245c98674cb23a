"""What a GPT training step costs: FLOPs, achieved FLOP/s against the matmul peak, and scaling.

One run measures, with all repetitions interleaved round-robin (so a busy
machine slows everything alike):

1. the matmul peak: FLOP/s of square float32 matmuls (1024 and 2048 by
   default; the faster median is the peak);
2. the training step (forward, loss, backward, AdamW step) of course_lib's GPT
   at the chapter's sizes (vocab 1024, 4 layers, 4 heads, batch 8) for several
   widths (n_embd 64, 128, 256 at seq 128) and several sequence lengths
   (64 ... 512 at n_embd 64).

For each size: tokens/s, FLOPs per token from course_lib.flops (checked against
torch's FlopCounterMode before timing), achieved FLOP/s and its fraction of
the peak, and the share of the step's time spent in attention (the
scaled_dot_product_attention kernel, forward and backward, from a few profiled
steps) beside attention's share of the FLOPs.

    python benchmarks/bench_scale.py --threads 1   # 15 rounds
    python benchmarks/bench_scale.py --quick       # 3 rounds, for a smoke test

Writes a markdown report to benchmarks/results/scale.md and the plot beside it
(scale.png: step time against n_embd^2 and against seq_len).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from course_lib.flops import make_matmul, make_training_step, measured_training_flops, training_flops_per_token
from course_lib.gpt import GPT, GPTConfig

RESULTS = Path(__file__).resolve().parent / "results" / "scale.md"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of --reps")
    parser.add_argument("--reps", type=int, default=15, help="timed rounds (each case runs once per round)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--block", type=int, default=128,
                        help="block_size of the models (raised to seq_len where a case needs more)")
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256], help="n_embd of the width sweep")
    parser.add_argument("--width-seq", type=int, default=128, help="seq_len of the width sweep")
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[64, 128, 256, 512],
                        help="seq_len of the sequence sweep")
    parser.add_argument("--seq-width", type=int, default=64, help="n_embd of the sequence sweep")
    parser.add_argument("--peak-sizes", type=int, nargs="+", default=[1024, 2048],
                        help="n of the n x n float32 matmuls that measure the peak")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown report; the plot goes beside it (.png)")
    return parser.parse_args()


def time_round_robin(fns: list[Callable[[], None]], reps: int) -> list[list[float]]:
    """Seconds per call of each fn, reps times, the calls interleaved; each round starts one later."""
    for fn in fns:  # warm-up: allocator, kernels, AdamW's state
        fn()
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for rep in range(reps):
        shift = rep % len(fns)
        for i in [*range(shift, len(fns)), *range(shift)]:
            start = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - start)
    return times


def _is_attention(event) -> bool:
    # forward: aten::scaled_dot_product_attention (around whichever kernel it picks);
    # backward: the autograd node, ScaledDotProduct...Backward0
    return "scaleddotproduct" in event.name.lower().replace("_", "")


def attention_time_share(step: Callable[[], None], steps: int) -> float:
    """Fraction of a training step's wall time spent in attention kernels (forward + backward), profiled."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - start
    attention_us = 0.0
    for event in prof.events():
        if not _is_attention(event):
            continue
        parent = event.cpu_parent
        while parent is not None and not _is_attention(parent):
            parent = parent.cpu_parent
        if parent is None:  # outermost attention event: its total holds the nested ones
            attention_us += event.cpu_time_total
    return attention_us * 1e-6 / wall


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def build_cases(args: argparse.Namespace) -> list[dict]:
    """The (n_embd, seq_len) cases of both sweeps, once each, with their FLOP counts checked."""
    sizes = [(d, args.width_seq) for d in args.widths] + [(args.seq_width, t) for t in args.seq_lens]
    cases = []
    for d, t in dict.fromkeys(sizes):  # keeps order, drops the case both sweeps share
        config = GPTConfig(args.vocab, max(args.block, t), args.layers, args.heads, d)
        torch.manual_seed(0)
        model = GPT(config)
        flops = training_flops_per_token(config, t)
        g = torch.Generator().manual_seed(1)
        idx, targets = (torch.randint(args.vocab, (args.batch, t), generator=g) for _ in range(2))
        counted = measured_training_flops(model, idx, targets)
        if counted != flops["total"] * args.batch * t:
            raise RuntimeError(f"n_embd {d}, seq {t}: FlopCounterMode counts {counted} FLOPs per step, "
                               f"the formula {flops['total'] * args.batch * t}")
        cases.append(dict(n_embd=d, seq=t, flops=flops, step=make_training_step(model, args.batch, t)))
    return cases


def plot(rows: list[dict], args: argparse.Namespace, peak: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # sorted: the case both sweeps share comes first in rows, wherever it falls on an axis
    widths = sorted((r for r in rows if r["seq"] == args.width_seq and r["n_embd"] in args.widths),
                    key=lambda r: r["n_embd"])
    seqs = sorted((r for r in rows if r["n_embd"] == args.seq_width and r["seq"] in args.seq_lens),
                  key=lambda r: r["seq"])
    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex="col")
    sweeps = [(widths, lambda r: r["n_embd"] ** 2, "n_embd²", f"width sweep (seq_len {args.width_seq})",
               lambda r: f"n_embd {r['n_embd']}"),
              (seqs, lambda r: r["seq"], "seq_len (tokens)", f"sequence sweep (n_embd {args.seq_width})",
               lambda r: f"T {r['seq']}")]
    for col, (sweep, x_of, xlabel, title, label_of) in enumerate(sweeps):
        top, bottom = axes[0, col], axes[1, col]
        x = [x_of(r) for r in sweep]
        total = [r["ms"] for r in sweep]
        attention = [r["ms"] * r["attn_time"] for r in sweep]
        top.plot(x, total, "o-", color="C0", label="whole step")
        top.plot(x, [a - b for a, b in zip(total, attention)], "^--", color="C2", label="all but attention")
        top.plot(x, attention, "s:", color="C3", label="attention kernel (fwd+bwd)")
        for i, (xi, r) in enumerate(zip(x, sweep)):  # end labels lean inwards, clear of the axes
            align = "left" if i == 0 else "right" if i == len(sweep) - 1 else "center"
            top.annotate(f"{label_of(r)}\n{r['frac_peak']:.0%} of peak", (xi, r["ms"]), textcoords="offset points",
                         xytext=(0, 9), ha=align, fontsize=8)
        top.set_title(title)
        top.set_ylabel("time per training step (ms)")
        top.set_ylim(0, 1.3 * max(total))  # room for the labels above the points
        top.legend(loc="upper left", fontsize=8)
        top.grid(alpha=0.3)
        bottom.plot(x, [100 * r["attn_time"] for r in sweep], "s-", color="C3", label="share of step time (measured)")
        bottom.plot(x, [100 * r["flops"]["attention"] / r["flops"]["total"] for r in sweep], "o--", color="C1",
                    label="share of FLOPs (formula)")
        bottom.set_xlabel(xlabel)
        bottom.set_ylabel("attention (%)")
        bottom.set_ylim(0, 100)
        bottom.legend(loc="upper left", fontsize=8)
        bottom.grid(alpha=0.3)
    fig.suptitle(f"GPT training step (fwd+bwd+AdamW), batch {args.batch}, {args.layers} layers, {args.heads} heads, "
                 f"vocab {args.vocab}; {torch.get_num_threads()} thread(s), matmul peak {peak / 1e9:.0f} GFLOP/s",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    reps = 3 if args.quick else args.reps
    config_line = (
        f"float32, batch {args.batch}, vocab {args.vocab}, {args.layers} layers, {args.heads} heads, "
        f"{reps} interleaved rounds, torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()} kernels), "
        f"{torch.get_num_threads()} threads, {cpu_name()}"
    )
    print(config_line)
    sys.stdout.flush()

    matmuls = [make_matmul(n) for n in args.peak_sizes]
    cases = build_cases(args)
    times = time_round_robin([run for run, _ in matmuls] + [c["step"] for c in cases], reps)
    peaks = [flops / statistics.median(t) for (_, flops), t in zip(matmuls, times)]
    peak = max(peaks)
    for n, rate in zip(args.peak_sizes, peaks):
        print(f"matmul {n} x {n}: {rate / 1e9:.1f} GFLOP/s")

    header = (f"{'n_embd':>6} {'seq':>5} {'step ms':>8} {'tokens/s':>9} {'MFLOP/tok':>9} {'attn FLOPs':>10} "
              f"{'GFLOP/s':>8} {'of peak':>7} {'attn time':>9}")
    print(header)
    print("-" * len(header))
    rows = []
    for case, t in zip(cases, times[len(matmuls):]):
        seconds = statistics.median(t)
        tokens = args.batch * case["seq"]
        achieved = case["flops"]["total"] * tokens / seconds
        row = dict(n_embd=case["n_embd"], seq=case["seq"], flops=case["flops"], ms=seconds * 1e3,
                   tokens_per_s=tokens / seconds, achieved=achieved, frac_peak=achieved / peak,
                   attn_time=attention_time_share(case["step"], 1 if args.quick else 3))
        rows.append(row)
        print(f"{row['n_embd']:>6} {row['seq']:>5} {row['ms']:8.1f} {row['tokens_per_s']:9.0f} "
              f"{row['flops']['total'] / 1e6:9.2f} {row['flops']['attention'] / row['flops']['total']:10.0%} "
              f"{achieved / 1e9:8.1f} {row['frac_peak']:7.0%} {row['attn_time']:9.0%}")
        sys.stdout.flush()

    args.output.parent.mkdir(parents=True, exist_ok=True)
    png = args.output.with_suffix(".png")
    plot(rows, args, peak, png)
    lines = [
        "# What a GPT training step costs: FLOPs, FLOP/s, scaling",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python {' '.join(sys.argv)}`.",
        "",
        f"Config: {config_line}.",
        "",
        "## Matmul peak",
        "",
        "Square float32 matmuls, median over the rounds; the fastest is taken as this machine's peak.",
        "",
        "| n | GFLOP/s |",
        "|---:|---:|",
        *(f"| {n} | {rate / 1e9:.1f} |" for n, rate in zip(args.peak_sizes, peaks)),
        "",
        f"Peak: **{peak / 1e9:.1f} GFLOP/s** at {torch.get_num_threads()} thread(s).",
        "",
        "## Training step: forward, loss, backward, AdamW step",
        "",
        "FLOPs per token are course_lib.flops.training_flops_per_token: 6 x matmul weights (every Linear",
        "in the blocks plus the tied output layer) + 12 x layers x seq_len x n_embd for attention's",
        "Q K^T and A V, counting the full T x T square; for every case they equal what torch's",
        "FlopCounterMode counts in one forward and backward (checked before timing). Achieved FLOP/s",
        "divides those FLOPs by the whole step's median time, which also holds work the count leaves",
        "out (LayerNorm, GELU, softmax, cross-entropy, embeddings, AdamW), so it is a utilisation of",
        "the matmul peak in the PaLM sense (model FLOPs), not a kernel's efficiency. Attention time",
        f"is the share of {1 if args.quick else 3} profiled step(s) spent in scaled_dot_product_attention and its",
        "backward (the profiler adds a little time to every operation, most to the small ones).",
        "",
        "| n_embd | seq_len | step (ms) | tokens/s | MFLOP/token | attention share of FLOPs | "
        "achieved GFLOP/s | fraction of peak | attention share of time |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(f"| {r['n_embd']} | {r['seq']} | {r['ms']:.1f} | {r['tokens_per_s']:.0f} | {r['flops']['total'] / 1e6:.2f} "
          f"| {r['flops']['attention'] / r['flops']['total']:.0%} | {r['achieved'] / 1e9:.1f} | {r['frac_peak']:.1%} "
          f"| {r['attn_time']:.0%} |" for r in rows),
        "",
        f"![step time against n_embd² and seq_len]({png.name})",
        "",
    ]
    args.output.write_text("\n".join(lines))
    print(f"\nwrote {args.output} and {png}")


if __name__ == "__main__":
    main()
