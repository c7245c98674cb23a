"""Chapter 10's answer files against its visible checks (the shared tests of tests/answer_checks.py):
the references pass, every alternative in tests/answers/10_scale passes, every wrong answer fails
with a message, and the listed ones with the hint meant for them."""
import math
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from course_lib import checks, distributed, flops, precision
from course_lib.gpt import GPT, GPTConfig

ANSWERS = Path(__file__).resolve().parent / "answers" / "10_scale"
CHECKS = {  # answer cell -> (function name, its check)
    "average_gradients": ("average_gradients", checks.check_average_gradients),
    "flops_per_token": ("flops_per_token", checks.check_flops_per_token),
    "loss_scaling_step": ("loss_scaling_step", checks.check_loss_scaling_step),
}
# what the notebook has imported by the time the learner writes an answer
NAMESPACE = dict(torch=torch, nn=nn, F=F, dist=dist, math=math, GPT=GPT, GPTConfig=GPTConfig)
REFERENCES = {"average_gradients": distributed.average_gradients,
              "flops_per_token": lambda config, seq_len: flops.training_flops_per_token(config, seq_len)["total"],
              "loss_scaling_step": precision.loss_scaling_step}
HINTS = [
    ("loss_scaling_step/mutant_unscales_first_group_only.py", "only the first parameter group was unscaled"),
    ("loss_scaling_step/mutant_step_clips_the_gradient.py", "the gradient was clipped"),
    ("average_gradients/mutant_copy_not_written_back.py", "each process kept its own gradient"),
    ("average_gradients/mutant_weights_averaged.py", "nor p.data, which holds the weights"),
    ("average_gradients/mutant_grad_none_not_skipped.py", "skip it (`if p.grad is not None`)"),
    ("average_gradients/mutant_result_of_all_reduce.py", "dist.all_reduce returns None"),
    ("average_gradients/mutant_no_division.py", "the gradients are the SUM over the processes"),
    ("average_gradients/mutant_two_processes_assumed.py", "not by a fixed 2"),
    ("average_gradients/mutant_twice_divided.py", "divided twice"),
    ("average_gradients/mutant_reduce_op_max.py", "op=MAX keeps the largest entry"),
    ("average_gradients/mutant_rank_zero_broadcast.py", "every process holds process 0's gradient"),
    ("average_gradients/mutant_reduce_to_rank_zero.py", "only process 0 holds the sum"),
    ("average_gradients/mutant_return_in_loop.py", "return or break inside the loop"),
    ("average_gradients/mutant_zeros_for_missing_grads.py", "the unused layer got a gradient"),
    ("flops_per_token/mutant_attention_missing.py", "the attention term is missing"),
    ("flops_per_token/mutant_forward_only.py", "that is the forward pass only"),
    ("flops_per_token/mutant_lm_head_missing.py", "the output layer is missing"),
    ("flops_per_token/mutant_masked_half.py", "the attention term is halved"),
    ("flops_per_token/mutant_mlp_one_matrix.py", "the MLP has two matrices"),
    ("flops_per_token/mutant_no_c_proj.py", "attn.c_proj is missing"),
    ("flops_per_token/mutant_one_pass_attention.py", "the attention term counts the forward only"),
    ("flops_per_token/mutant_parameters_all.py", "every parameter was counted"),
    ("flops_per_token/mutant_seq_len_squared.py", "not seq_len^2"),
    ("flops_per_token/mutant_tied_counted_twice.py", "counted twice"),
    ("flops_per_token/mutant_using_block_size.py", "not block_size"),
    ("flops_per_token/mutant_with_biases.py", "the biases were counted"),
    ("loss_scaling_step/mutant_always_steps.py", "a step with inf or nan gradients must be skipped"),
    ("loss_scaling_step/mutant_only_loss_checked.py", "the loss itself is finite"),
    ("loss_scaling_step/mutant_grads_not_unscaled.py", "the gradients are still scaled"),
    ("loss_scaling_step/mutant_unscaled_copy.py", "the gradients are still scaled"),
    ("loss_scaling_step/mutant_loss_not_scaled.py", "the loss was not multiplied by scale"),
    ("loss_scaling_step/mutant_multiplied_instead_of_divided.py", "multiplied by scale again"),
    ("loss_scaling_step/mutant_scale_kept_after_overflow.py", "after an overflow, halve the scale"),
    ("loss_scaling_step/mutant_scale_doubled_after_good_step.py", "the scale grows only after many good steps"),
    ("loss_scaling_step/mutant_step_before_unscale.py", "optimizer.step() ran on the scaled gradients"),
    ("loss_scaling_step/mutant_step_then_check.py", "an overflowed step must leave them"),
    ("loss_scaling_step/mutant_tuple_swapped.py", "the order is (new_scale, stepped)"),
    ("loss_scaling_step/mutant_zero_grad_after_backward.py", "zero_grad() between the backward pass and the step"),
    ("loss_scaling_step/mutant_grads_cleared_on_overflow.py", "the unscaled gradients stay in .grad"),
    ("loss_scaling_step/mutant_integer_halving.py", "scale // 2 rounds down"),
    ("loss_scaling_step/mutant_isinf_of_sum.py", "which torch.isinf (or a comparison with inf) does not catch"),
    ("loss_scaling_step/mutant_overflow_from_half_sum.py", "can overflow by itself"),
]

from answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above
