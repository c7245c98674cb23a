"""Data-parallel training (course_lib.distributed) equals training in one process.

Real processes on this machine's CPUs, joined by gloo: run_processes forks
them (as a notebook does); the recipe's tests start them with torchrun
through `course pretrain gpt --nproc 2`, the command instructors type.

Tolerances, measured on a 2-core Xeon (AVX-512 and ATEN_CPU_CAPABILITY=default):
the gradients of 2 processes differ from one process's by at most 5e-7 of
the largest gradient entry (float32 sums in another order); after 40 steps
of AdamW the weights by at most 7e-6 of the largest weight, except the
attention's key biases, which get no gradient at all (a softmax ignores a
constant added to every score), so Adam turns rounding noise into full-size
steps there (1e-3): they are compared through the model's outputs instead.
"""
from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from helpers.tensors import GRAD_RTOL, assert_close_per_tensor
from torch import nn

from course_lib import distributed
from course_lib.distributed import EpochSampler, data_parallel_backward, run_processes, shard_rows
from course_lib.gpt import GPT, GPTConfig

ROOT = Path(__file__).resolve().parents[2]
CONFIG = GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=16)


def _model(seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(CONFIG)


def _global_batch(rows: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(CONFIG.vocab_size, (rows, CONFIG.block_size), generator=g)
    return x, torch.roll(x, -1, dims=1)


def _loss(m: nn.Module, batch) -> torch.Tensor:
    return m(*batch)[1]


def _one_process_grads(rows: int = 8) -> dict[str, torch.Tensor]:
    model = _model()
    _loss(model, _global_batch(rows)).backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}


# --------------------------------------------------------------------------- gradients, 2 processes


def _ddp_grads(rank: int, world_size: int, accumulate: int) -> dict[str, torch.Tensor]:
    model = _model()
    ddp = nn.parallel.DistributedDataParallel(model)
    data_parallel_backward(ddp, _loss, _global_batch(), accumulate=accumulate)
    return {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("accumulate", [1, 2])
def test_two_processes_give_one_process_gradients(accumulate):
    want = _one_process_grads()
    grads = run_processes(_ddp_grads, 2, accumulate)
    for got in grads:
        assert_close_per_tensor(got, want, GRAD_RTOL)
    # and the two processes hold the same gradient (DDP's all-reduce leaves the same sum in each)
    assert_close_per_tensor(grads[1], grads[0], 0.0)


def _manual_average(rank: int, world_size: int) -> dict[str, torch.Tensor]:
    model = _model()
    _loss(model, shard_rows(_global_batch(), rank, world_size)).backward()
    distributed.average_gradients(model)
    return {n: p.grad for n, p in model.named_parameters()}


def test_all_reduce_by_hand_equals_ddp():
    want = run_processes(_ddp_grads, 2, 1)[0]
    for got in run_processes(_manual_average, 2):
        assert_close_per_tensor(got, want, GRAD_RTOL)


def _local_grads_only(rank: int, world_size: int) -> dict[str, torch.Tensor]:
    model = _model()
    _loss(model, shard_rows(_global_batch(), rank, world_size)).backward()
    return {n: p.grad for n, p in model.named_parameters()}  # no all-reduce: each its own shard's gradient


def test_skipping_the_all_reduce_is_caught():
    """The check above fails when the processes keep their own gradients: each is its shard's alone."""
    want = _one_process_grads()
    local = run_processes(_local_grads_only, 2)
    with pytest.raises(AssertionError, match="differs by"):
        assert_close_per_tensor(local[0], want, GRAD_RTOL)
    # their mean is the right gradient: the all-reduce is exactly what was missing
    mean = {n: (local[0][n] + local[1][n]) / 2 for n in want}
    assert_close_per_tensor(mean, want, GRAD_RTOL)


def _one_process_skips(rank: int, world_size: int) -> None:
    # a short timeout, so that the process left waiting gives up within seconds
    group = dist.new_group(timeout=datetime.timedelta(seconds=5))
    model = _model()
    _loss(model, shard_rows(_global_batch(), rank, world_size)).backward()
    if rank == 0:
        for p in model.parameters():
            dist.all_reduce(p.grad, group=group)


def test_one_process_skipping_the_all_reduce_leaves_the_other_waiting():
    """All processes must call every collective: if one does not, the other waits, then fails."""
    with pytest.raises(Exception, match="(?i)timed out|timeout|connection closed|peer"):
        run_processes(_one_process_skips, 2)


# --------------------------------------------------------------------------- accumulation, one process


@pytest.mark.parametrize("accumulate", [2, 4, 8])
def test_gradient_accumulation_equals_one_big_batch(accumulate):
    want = _one_process_grads()
    model = _model()
    loss = data_parallel_backward(model, _loss, _global_batch(), accumulate=accumulate)
    assert_close_per_tensor({n: p.grad for n, p in model.named_parameters()}, want, GRAD_RTOL)
    assert loss == pytest.approx(float(_loss(_model(), _global_batch()).detach()), rel=1e-5)


def test_uneven_splits_are_refused():
    with pytest.raises(ValueError, match="3 equal micro-batches"):
        data_parallel_backward(_model(), _loss, _global_batch(8), accumulate=3)
    with pytest.raises(ValueError, match="does not split evenly"):
        shard_rows(torch.zeros(7, 2), 0, 2)


def test_shards_cover_the_global_batch_once():
    x = torch.arange(12).reshape(12, 1)
    for world_size in (1, 2, 3, 4):
        shards = [shard_rows(x, r, world_size) for r in range(world_size)]
        assert torch.equal(torch.cat(shards), x)


def test_epoch_sampler_covers_every_window_once_per_epoch_whatever_the_world_size():
    size, batch = 96, 8  # 12 global batches per epoch
    for epoch in (0, 1):
        one = EpochSampler(size, 0, 1, seed=3).epoch_indices(epoch)
        assert sorted(one) == list(range(size))
        for world_size in (2, 4):
            per_rank = [EpochSampler(size, r, world_size, seed=3).epoch_indices(epoch) for r in range(world_size)]
            assert sorted(i for rank in per_rank for i in rank) == list(range(size))
            # the k-th local batches of all processes together are the k-th global batch of one process
            local = batch // world_size
            for k in range(size // batch):
                together = {i for rank in per_rank for i in rank[k * local:(k + 1) * local]}
                assert together == set(one[k * batch:(k + 1) * batch])
    assert EpochSampler(size, seed=3).epoch_indices(0) != EpochSampler(size, seed=3).epoch_indices(1)


def test_run_processes_reports_a_failing_process():
    with pytest.raises(Exception, match="rank 1 failed here"):
        run_processes(_fails_on_rank_1, 2)


def _fails_on_rank_1(rank: int, world_size: int) -> None:
    if rank == 1:
        raise RuntimeError("rank 1 failed here")


def test_options_that_do_not_fit_are_refused(tmp_path, capsys):
    from course_lib import cli

    assert cli.main(["pretrain", "bert", "--nproc", "2", "--out", str(tmp_path)]) == 2
    assert "runs in one float32 process" in capsys.readouterr().err
    assert cli.main(["pretrain", "gpt", "--accumulate", "3", "--steps", "1", "--out", str(tmp_path)]) == 2
    assert "does not split" in capsys.readouterr().err
    assert not any(tmp_path.iterdir()), "nothing is written when the options are refused"


def test_torchrun_command_is_the_readme_one():
    from course_lib import cli

    args = cli.build_parser().parse_args(["pretrain", "gpt", "--nproc", "2", "--steps", "5", "--out", "x"])
    command = cli._torchrun_command(args)
    assert command[1:6] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m"]
    assert command[6:] == ["course_lib.cli", "pretrain", "gpt", "--seed", "0", "--steps", "5", "--out", "x"]
    readme = (ROOT / "README.md").read_text()
    assert "torchrun --standalone --nproc_per_node=2 -m course_lib.cli pretrain gpt" in readme


@pytest.mark.parametrize("level", ["default", "avx2"])
def test_16_bit_autocast_trains_at_every_cpu_kernel_level(level):
    """torch 2.13's fused CPU attention fails in 16 bits when the kernel level is lowered on an AVX-512 CPU
    with bfloat16 units ("pack_vnni2 is only supported when avx512 is supported"):
    precision.autocast_context routes attention to plain matmuls there."""
    import os

    code = ("import torch\n"
            "from course_lib.gpt import GPT, GPTConfig\n"
            "from course_lib.precision import autocast_context\n"
            "torch.set_num_threads(1)\n"
            "model = GPT(GPTConfig(vocab_size=64, block_size=128, n_layer=1, n_head=4, n_embd=64))\n"
            "x = torch.randint(64, (4, 128))\n"
            "for precision in ('bfloat16', 'float16'):\n"
            "    with autocast_context('cpu', precision):\n"
            "        loss = model(x, torch.roll(x, -1, dims=1))[1]\n"
            "    loss.backward()\n"
            "    assert torch.isfinite(loss)\n")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "ATEN_CPU_CAPABILITY": level},
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
