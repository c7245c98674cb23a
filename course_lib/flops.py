"""What a training step of the course's GPT costs: FLOPs counted, FLOP/s measured.

A training step is almost all matrix multiplies, so its cost follows from two
numbers: how many weights a token meets in a matmul, and how long the sequence
is (attention compares every position with every other). This module writes
that count down (``training_flops_per_token``), checks it against what torch
itself counts while running a step (``measured_training_flops``), and measures
the two rates needed to turn FLOPs into seconds: this machine's best matmul
rate (``matmul_peak``) and the step's own (``time_training_step``). Achieved
FLOP/s over peak is the "model FLOPs utilisation" of the PaLM paper.

Conventions, so that the numbers mean one thing:

* one multiply-add is 2 FLOPs; only matmuls count. LayerNorm, GELU, softmax,
  cross-entropy, the embedding lookups and the optimizer are O(d) per token
  against the matmuls' O(d^2), and torch's counter ignores them too;
* model FLOPs, not hardware FLOPs: work a kernel repeats to save memory
  (flash attention's backward recomputes the attention matrix) is not counted;
* attention counts the full T x T square even though the causal mask throws
  half of it away (see ``training_flops_per_token`` for why that is what the
  kernel does at the course's sizes).
"""
from __future__ import annotations

import copy
import statistics
import time
from typing import Callable

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from course_lib.gpt import GPTConfig

__all__ = [
    "matmul_parameters",
    "training_flops_per_token",
    "measured_training_flops",
    "make_matmul",
    "matmul_peak",
    "make_training_step",
    "time_training_step",
]


# --------------------------------------------------------------------------- counting


def matmul_parameters(config: GPTConfig) -> int:
    """Weights that each token is multiplied with: every Linear in the blocks, and the output layer.

    Per block: the fused q/k/v projection (d x 3d), the attention output (d x d)
    and the 4x MLP (d x 4d, 4d x d): 12 d^2. The output layer is a V x d matmul
    whether or not its matrix is shared with the token embedding, so it counts
    here even though tying stores it once. The embedding lookups are reads, not
    multiplies, and biases and LayerNorm scales are O(d): none of them count.
    """
    d = config.n_embd
    per_block = 3 * d * d + d * d + 4 * d * d + 4 * d * d
    return config.n_layer * per_block + config.vocab_size * d


def training_flops_per_token(config: GPTConfig, seq_len: int) -> dict[str, int]:
    """FLOPs of forward + backward per token at sequence length seq_len: "dense", "attention", "total".

    dense = 6 N, N = matmul_parameters(config): the forward multiplies each
    weight with the token's activation once (2 FLOPs), the backward does it
    twice, once for the gradient into the activation and once for the
    gradient into the weight (4 FLOPs). This is the "C = 6N per token" of
    Kaplan et al. 2020 (Scaling Laws for Neural Language Models).

    attention = 12 n_layer seq_len n_embd: the two matmuls that involve the
    sequence itself, Q K^T and (softmax) V. Each costs a token 2 T d FLOPs in
    the forward (T keys, d = n_heads * head_dim dims, all heads together), 4 T d
    with its backward, so 4 T d forward and 12 T d in all per layer. It is the
    second term of the PaLM paper's (Chowdhery et al. 2022, appendix B)
    6N + 12 L H Q T, with H Q = n_embd. Per token it grows linearly with T; per
    sequence (T tokens) quadratically, while the dense part stays linear.

    The causal mask is ignored: every query counts all T keys, not the t it is
    allowed to see. That is what the kernels compute at these sizes: torch's
    math path multiplies the full square and masks afterwards, and its fused CPU
    kernel (torch 2.13) can only skip key blocks lying wholly above the diagonal:
    with the mask its forward + backward took within about 15% of the unmasked
    time up to T = 512, and 0.6 to 0.8 of it at T = 1024 and 2048 (one thread),
    never the half the mask would allow. Full squares are also the convention
    of torch's FLOP counter and of the PaLM count, so the numbers compare.
    """
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len must be a positive int, got {seq_len!r}")
    if seq_len > config.block_size:
        raise ValueError(f"seq_len {seq_len} is longer than block_size={config.block_size}: the model cannot read it")
    dense = 6 * matmul_parameters(config)
    attention = 12 * config.n_layer * seq_len * config.n_embd
    return {"dense": dense, "attention": attention, "total": dense + attention}


# torch's FlopCounterMode has formulas for the GPU attention kernels, but none
# for the CPU one that F.scaled_dot_product_attention picks when it can (no
# dropout): in torch 2.13 a CPU training step's attention counts 0 FLOPs. With
# dropout, sdpa falls back to its math path, whose bmm's the counter does see.
# We give the CPU kernel the count that math path gets (2 matmuls forward, 4
# backward, full square), so the total does not depend on which kernel ran. The
# GPU formulas differ on one point: their backward adds the recomputation of
# Q K^T (5 matmuls), which is hardware work, not model work.
def _attention_forward_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    batch, heads, t_q, d_qk = query  # shapes: FlopCounterMode passes tensors' shapes
    t_k, d_v = key[-2], value[-1]
    return 2 * batch * heads * t_q * t_k * d_qk + 2 * batch * heads * t_q * t_k * d_v


def _attention_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    # dV = P^T dO and dP = dO V^T, then dQ = dS K and dK = dS^T Q: twice the forward
    return 2 * _attention_forward_flops(query, key, value)


_CPU_ATTENTION_FLOPS = {
    op: formula
    for name, formula in (("_scaled_dot_product_flash_attention_for_cpu", _attention_forward_flops),
                          ("_scaled_dot_product_flash_attention_for_cpu_backward", _attention_backward_flops))
    if (op := getattr(torch.ops.aten, name, None)) is not None
}


def measured_training_flops(model: nn.Module, idx: Tensor, targets: Tensor) -> int:
    """FLOPs that torch counts in one forward (with loss) and backward of model on (idx, targets).

    The model runs in training mode (as in a training step; its mode is
    restored afterwards) and must return (logits, loss) like course_lib's GPT.
    Gradients come from torch.autograd.grad, so the parameters' .grad are left
    as they were and nothing is updated. The optimizer step is not counted:
    AdamW is a few elementwise operations per weight, no matmul.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    was_training = model.training
    model.train()
    try:
        with FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION_FLOPS) as counter:
            _, loss = model(idx, targets)
            torch.autograd.grad(loss, params)
    finally:
        model.train(was_training)
    return counter.get_total_flops()


# --------------------------------------------------------------------------- timing


def _median_seconds(fn: Callable[[], None], repeats: int, warmup: int) -> float:
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    for _ in range(warmup):  # allocator, thread pool, lazy initialisations
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    # the median: a busy machine only ever adds time, and only to some calls
    return statistics.median(times)


def make_matmul(n: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> tuple[Callable[[], None], int]:
    """(run, flops): run() multiplies two n x n matrices once; flops = 2 n^3.

    The output buffer is reused so that the time is the multiply's, not the allocator's.
    """
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g).to(dtype)
    b = torch.randn(n, n, generator=g).to(dtype)
    out = torch.empty(n, n, dtype=dtype)

    def run() -> None:
        torch.mm(a, b, out=out)

    return run, 2 * n ** 3


def matmul_peak(n: int = 1024, dtype: torch.dtype = torch.float32, repeats: int = 20, warmup: int = 2) -> float:
    """FLOP/s of one n x n by n x n matmul at the current torch thread count (median of repeats).

    A large square matmul is the best case a CPU library has: enough work per
    byte to keep every vector unit busy. It stands for the machine's peak; a
    model's achieved rate over it says how much of the hardware the model uses.
    n = 1024 to 2048 is large enough on a laptop- or server-class core; tiny n
    measures call overhead, not the arithmetic.
    """
    run, flops = make_matmul(n, dtype)
    return flops / _median_seconds(run, repeats, warmup)


def make_training_step(model: nn.Module, batch_size: int, seq_len: int, seed: int = 0,
                       lr: float = 1e-4, weight_decay: float = 0.1) -> Callable[[], None]:
    """A function that runs one training step: forward with loss, backward, AdamW step.

    It trains a copy of model (so the model passed in is left as it was) on a
    fixed batch of random tokens: (batch_size, seq_len) ids below
    model.config.vocab_size. Random tokens cost what real ones do.
    """
    model = copy.deepcopy(model).train()
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(vocab, (batch_size, seq_len), generator=g)
    targets = torch.randint(vocab, (batch_size, seq_len), generator=g)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)

    def step() -> None:
        _, loss = model(idx, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def time_training_step(model: nn.Module, batch_size: int, seq_len: int, repeats: int = 10,
                       warmup: int = 2, seed: int = 0) -> float:
    """Median seconds of one training step (forward + loss + backward + AdamW step) at these sizes.

    The warm-up steps also create AdamW's state, which the first step allocates.
    The model passed in is not changed (a copy trains). Divide
    training_flops_per_token(...)["total"] * batch_size * seq_len by this for
    the achieved FLOP/s.
    """
    return _median_seconds(make_training_step(model, batch_size, seq_len, seed), repeats, warmup)
