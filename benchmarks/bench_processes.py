"""`course pretrain gpt --nproc N`: wall time for the same steps with 1 and 2 processes, and what they reach.

Runs the command an instructor types (torchrun starts the processes for
N > 1), one after the other on the same machine, each writing into a temporary
folder; reports the wall time of the whole command (start-up, tokenizer,
training, evaluation, files), the training time the recipe records, and how far
apart the runs end up (first 20 losses, held-out loss).

    python benchmarks/bench_processes.py               # the recipe's 800 steps
    python benchmarks/bench_processes.py --steps 20    # a smoke test

Then, in one run, one training step of the recipe's model timed each way (median
of --step-reps steps, one thread per process): one process with the global batch
of 8 rows; two processes with 4 rows each and no communication; waiting for each
other at every step and nothing more (a barrier); with DDP; with
gradients averaged by hand (course_lib.distributed.average_gradients); and an
all-reduce of a gradient-sized tensor alone. Where the two-process time goes.

Writes benchmarks/results/processes.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results" / "processes.md"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--step-reps", type=int, default=50, help="timed steps per case in the second table")
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def run(nproc: int, steps: int | None, out: Path) -> tuple[float, dict]:
    command = [sys.executable, "-m", "course_lib.cli", "pretrain", "gpt", "--nproc", str(nproc), "--out", str(out)]
    if steps is not None:
        command += ["--steps", str(steps)]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, json.loads((out / "gpt.json").read_text())


def _step_times(rank: int, world_size: int, how: str, reps: int) -> torch.Tensor:
    import statistics

    from torch import nn

    from course_lib.distributed import average_gradients, shard_rows
    from course_lib.gpt import GPT, GPTConfig
    from course_lib.pretrain import GPT_RECIPE

    r = GPT_RECIPE
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=r["vocab_size"], block_size=r["block_size"], n_layer=r["n_layer"],
                          n_head=r["n_head"], n_embd=r["n_embd"]))
    if how == "all-reduce alone":
        grads = torch.randn(sum(p.numel() for p in model.parameters()))
    wrapped = nn.parallel.DistributedDataParallel(model) if how == "DDP" else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = torch.Generator().manual_seed(0)
    times = []
    for _ in range(reps + 10):  # the first 10 warm up
        x = torch.randint(r["vocab_size"], (r["batch_size"], r["block_size"]), generator=batches)
        mine = shard_rows((x, torch.roll(x, -1, dims=1)), rank, world_size)
        start = time.perf_counter()
        if how == "all-reduce alone":
            torch.distributed.all_reduce(grads)
        else:
            optimizer.zero_grad()
            wrapped(*mine)[1].backward()
            if how == "by hand":
                average_gradients(model)
            elif how == "barrier":
                torch.distributed.barrier()  # wait for each other, exchange nothing
            optimizer.step()
        times.append(time.perf_counter() - start)
    return torch.tensor(statistics.median(times[10:]))


def step_breakdown(reps: int) -> list[tuple[str, list[float]]]:
    from course_lib.distributed import run_processes

    torch.set_num_threads(1)
    rows = [("1 process, 8 rows", [float(_step_times(0, 1, "none", reps))])]
    for how, label in (("none", "2 processes, 4 rows each, no communication"),
                       ("barrier", "2 processes, waiting for each other at every step (a barrier), no gradients"),
                       ("DDP", "2 processes, DDP"),
                       ("by hand", "2 processes, average_gradients by hand"),
                       ("all-reduce alone", "2 processes, all-reduce of the gradient's size alone")):
        rows.append((label, [float(t) for t in run_processes(_step_times, 2, how, reps)]))
    return rows


def main() -> None:
    args = parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.nproc:
            wall, metrics = run(n, args.steps, Path(tmp) / f"nproc{n}")
            rows.append((n, wall, metrics))
            print(f"--nproc {n}: {wall:.1f} s", file=sys.stderr)
    base = rows[0][2]
    cores = os.cpu_count()
    lines = [
        "# `course pretrain gpt --nproc N` (DDP over gloo, one thread per process)",
        "",
        f"Machine: {platform.machine()}, {cores} cores, torch {torch.__version__}; {base['steps']} steps of a global "
        f"batch of {base['recipe']['batch_size']} x {base['recipe']['block_size']} tokens.",
        "",
        "| processes | wall s (whole command) | training s (recorded) | held-out loss | "
        "largest relative difference of the first 20 losses vs 1 process |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n, wall, m in rows:
        diff = max(abs(a - b) / abs(b) for a, b in zip(m["fingerprint_losses"], base["fingerprint_losses"]))
        lines.append(f"| {n} | {wall:.1f} | {m['seconds']:.1f} | {m['val_loss']:.4f} | {diff:.1e} |")
    lines += ["", f"One step, medians of {args.step_reps} steps, one thread per process:", "",
              "| case | ms per step (each process) |", "|---|---:|"]
    for label, seconds in step_breakdown(args.step_reps):
        lines.append(f"| {label} | {' / '.join(f'{t * 1e3:.1f}' for t in seconds)} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
