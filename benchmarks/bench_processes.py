"""`course pretrain gpt --nproc N`: wall time for the same steps with 1 and 2 processes, and what they reach.

Runs the command an instructor types (torchrun starts the processes for
N > 1), one after the other on the same machine, each writing into a temporary
folder; reports the wall time of the whole command (start-up, tokenizer,
training, evaluation, files), the training time the recipe records, and how far
apart the runs end up (first 20 losses, held-out loss).

    python benchmarks/bench_processes.py               # the recipe's 800 steps
    python benchmarks/bench_processes.py --steps 20    # a smoke test

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
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args()


def run(nproc: int, steps: int | None, out: Path) -> tuple[float, dict]:
    command = [sys.executable, "-m", "course_lib.cli", "pretrain", "gpt", "--nproc", str(nproc), "--out", str(out)]
    if steps is not None:
        command += ["--steps", str(steps)]
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, json.loads((out / "gpt.json").read_text())


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
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
