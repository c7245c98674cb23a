"""Data-parallel training: one copy of the model per process, each its shard of every batch.

The engine is PyTorch's own: `torchrun` starts the processes and tells each
its RANK and WORLD_SIZE; `torch.distributed` connects them (gloo on CPUs,
NCCL between GPUs); `DistributedDataParallel` (DDP) all-reduces the gradients
during the backward pass, so after it every process holds the same averaged
gradient, takes the same optimizer step and keeps the same weights.

What this module adds around that engine is what a recipe needs to stay the
same recipe whatever the number of processes:

- the *global* batch is fixed by the recipe; each process computes its rows of
  it (`shard_rows`), split into micro-batches when they do not fit at once
  (gradient accumulation); the gradient is then the gradient of the mean loss
  over the whole global batch, as in one process;
- `data_parallel_backward` does one step's backward pass that way, with
  autocast (mixed precision) and a GradScaler where asked for, and returns
  the loss of the whole global batch, averaged over the processes, for the log;
- `EpochSampler`, torch's DistributedSampler counted in global batches: every
  example exactly once per epoch, split between the processes, the same global
  batches whatever their number. (The GPT recipe keeps drawing random windows
  of its token stream, as the shipped checkpoint was trained: every process draws
  the same global batch from the same seeded generator and keeps its rows.)
- `run_processes` starts N processes from a notebook or a test (forked, so a
  function defined in a notebook works; Linux and macOS, Windows cannot fork)
  with the same environment variables torchrun sets.

`average_gradients` is what DDP does, written by hand with all_reduce (chapter
10 asks for it as an exercise): slower, as it waits for the whole backward pass
before it sends anything, where DDP overlaps sending with computing.
"""
from __future__ import annotations

import datetime
import os
import socket
import tempfile
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
from torch import Tensor, nn

from course_lib.precision import autocast_context

__all__ = [
    "EpochSampler",
    "average_gradients",
    "data_parallel_backward",
    "is_main_process",
    "launched_by_torchrun",
    "mean_over_processes",
    "process_group",
    "rank_and_world_size",
    "run_processes",
    "shard_rows",
]

# --------------------------------------------------------------------------- who am I


def launched_by_torchrun() -> bool:
    """True in a process that torchrun (or run_processes) started: WORLD_SIZE is set."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def rank_and_world_size() -> tuple[int, int]:
    """(rank, world_size) of this process; (0, 1) when no process group is running."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Rank 0: the one process that prints, evaluates and writes files."""
    return rank_and_world_size()[0] == 0


@contextmanager
def process_group(device: str = "cpu") -> Iterator[tuple[int, int]]:
    """Join the processes torchrun started (if it did); yield (rank, world_size).

    gloo on CPU, NCCL on CUDA (each process takes the GPU of its LOCAL_RANK).
    Outside torchrun this does nothing and yields (0, 1), so the same code
    runs in one process without any process group.
    """
    if not launched_by_torchrun() or dist.is_initialized():
        yield rank_and_world_size()
        return
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend)
    try:
        yield rank_and_world_size()
    finally:
        dist.destroy_process_group()


# --------------------------------------------------------------------------- splitting the data


def shard_rows(batch: Tensor | tuple[Tensor, ...], rank: int, world_size: int) -> Any:
    """This process's rows of a global batch: rows [rank * b, (rank + 1) * b), b = len / world_size.

    A tuple (inputs, targets) is split alike. The global batch must divide
    evenly: with unequal shards the average of the processes' mean losses
    would weight rows unequally, and the result would depend on world_size.
    """
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard_rows(t, rank, world_size) for t in batch)
    if len(batch) % world_size != 0:
        raise ValueError(f"a global batch of {len(batch)} rows does not split evenly into {world_size} processes")
    b = len(batch) // world_size
    return batch[rank * b:(rank + 1) * b]


class EpochSampler(torch.utils.data.DistributedSampler):
    """torch's DistributedSampler, counted in global batches.

    Over an epoch, every index of the dataset comes exactly once (when its size
    is a multiple of world_size; otherwise the first few indices of the order
    are repeated, so that every process gets as many), in an order
    shuffled by (seed, epoch) that every process draws alike; process r takes
    every world_size-th index from r. So the k-th local batch of every process
    together hold positions [k * B, (k + 1) * B) of that order: the global
    batches do not depend on the number of processes.
    """

    def __init__(self, dataset_size: int, rank: int = 0, world_size: int = 1, seed: int = 0):
        super().__init__(range(dataset_size), num_replicas=world_size, rank=rank, shuffle=True, seed=seed,
                         drop_last=False)

    def epoch_indices(self, epoch: int) -> list[int]:
        """This process's indices in epoch `epoch`, in the order it uses them."""
        self.set_epoch(epoch)
        return list(iter(self))


# --------------------------------------------------------------------------- gradients


def average_gradients(model: nn.Module) -> None:
    """Average every parameter's gradient over the processes, in place: DDP's result by hand.

    all_reduce with SUM leaves the sum of the processes' tensors in every
    process; dividing by their number gives the mean. Parameters without a
    gradient are skipped in every process alike (the same model has the same
    unused parameters everywhere).
    """
    world_size = dist.get_world_size()
    for p in model.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= world_size


def mean_over_processes(value: float | Tensor) -> float:
    """The mean of a number over the processes (itself without a process group): for logs."""
    if not (dist.is_available() and dist.is_initialized()):
        return float(value)
    t = torch.as_tensor(value, dtype=torch.float64).detach().clone().reshape(1)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t) / dist.get_world_size()


def data_parallel_backward(model: nn.Module, loss_fn: Callable[[nn.Module, Any], Tensor],
                           global_batch: tuple[Tensor, ...], *, accumulate: int = 1, device: str = "cpu",
                           precision: str = "float32", scaler: "torch.amp.GradScaler | None" = None) -> float:
    """Gradients of the mean loss over `global_batch`, computed by this process's share; return that loss.

    model: the DDP-wrapped model in a process group (a plain model alone).
    loss_fn(model, micro_batch) -> the mean loss over the micro-batch's rows.
    accumulate: micro-batches per process. Each micro-batch's loss is divided
        by their number, so the summed gradient is that of this process's mean;
        DDP then averages the processes' gradients, which gives the global mean
        because every shard has the same number of rows (and every row the same
        number of targets). DDP's all-reduce is skipped (no_sync) on all but the
        last micro-batch: once per optimizer step is enough.
    Call optimizer.zero_grad() before; the gradients are left in .grad (scaled,
    if a scaler is given: the caller unscales before clipping).
    """
    rank, world_size = rank_and_world_size()
    mine = shard_rows(global_batch, rank, world_size)
    rows = len(mine[0])
    if accumulate < 1 or rows % accumulate != 0:
        raise ValueError(f"{rows} rows per process do not split into {accumulate} equal micro-batches")
    size = rows // accumulate
    total = 0.0
    for i in range(accumulate):
        micro = tuple(t[i * size:(i + 1) * size].to(device) for t in mine)
        last = i == accumulate - 1
        skip_sync = model.no_sync() if isinstance(model, nn.parallel.DistributedDataParallel) and not last \
            else nullcontext()
        with skip_sync:
            with autocast_context(device, precision):
                loss = loss_fn(model, micro) / accumulate
            (scaler.scale(loss) if scaler is not None else loss).backward()
        total += loss.detach().float().item()
    return mean_over_processes(total)


# --------------------------------------------------------------------------- starting processes


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, fn: Callable, world_size: int, port: int, timeout: float, args: tuple) -> None:
    # the variables torchrun sets, so process_group() and the recipe see what they would under torchrun
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size),
                      LOCAL_WORLD_SIZE=str(world_size), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    # One thread per process: N processes share the machine's cores, and a
    # forked child must not re-enter the parent's OpenMP thread pool (it can hang).
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=datetime.timedelta(seconds=timeout))
    try:
        result = fn(rank, world_size, *args)
        if result is not None:
            torch.save(result, os.path.join(os.environ["COURSE_RESULTS_DIR"], f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


def run_processes(fn: Callable[..., Any], world_size: int, *args: Any, timeout: float = 120.0) -> list[Any]:
    """Run fn(rank, world_size, *args) in `world_size` CPU processes joined by gloo; return their results.

    For notebooks and tests: the processes are forked, so `fn` may be defined
    in a notebook cell (a spawned process could not import it). Each process
    gets torchrun's environment variables and one thread. What fn returns
    (tensors, numbers, dicts of them) comes back, one entry per rank. An error
    in any process raises here, with that process's traceback. A collective that
    waits longer than `timeout` seconds (a process that never joins it) fails,
    so a mismatched all_reduce ends in an error instead of a hang.
    For whole training runs use torchrun (`course pretrain gpt --nproc N`).
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as results:
        previous = os.environ.get("COURSE_RESULTS_DIR")
        os.environ["COURSE_RESULTS_DIR"] = results
        try:
            mp.start_processes(_worker, args=(fn, world_size, _free_port(), timeout, args), nprocs=world_size,
                               join=True, start_method="fork")
        finally:
            if previous is None:
                os.environ.pop("COURSE_RESULTS_DIR", None)
            else:
                os.environ["COURSE_RESULTS_DIR"] = previous
        out = []
        for rank in range(world_size):
            path = os.path.join(results, f"{rank}.pt")
            out.append(torch.load(path, weights_only=True) if os.path.exists(path) else None)
        return out
