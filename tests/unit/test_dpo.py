"""course_lib.dpo: the DPO loss equals TRL's DPOTrainer on the same log-probabilities; response
log-probabilities; preference pairs; DPO training moves the policy the right way and leaves the
reference alone."""
import copy
import math
import re
import types
from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F

from course_lib.data.instructions import Instruction, generate_instructions
from course_lib.data.tokenizers import BPETokenizer
from course_lib.dpo import (
    PreferencePair,
    dpo_loss,
    implicit_rewards,
    pair_log_probs,
    preference_accuracy,
    preference_pairs,
    response_log_probs,
    train_dpo,
)
from course_lib.gpt import GPT, GPTConfig
from course_lib.sft import add_chat_tokens, chat_batch


def trl_dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta):
    """TRL's DPOTrainer loss ("sigmoid", standard DPO) on given summed log-probabilities.

    TRL computes the loss inside DPOTrainer._compute_loss from a model's
    per-token log-probabilities. We call that method with a stand-in trainer
    and a stand-in model whose per-token log-probabilities sum to the given
    numbers (all on the first completion token), and with the reference's
    log-probabilities precomputed, as TRL's precompute_ref_log_probs does.
    """
    import trl  # a dev dependency: without it this test fails rather than skips
    n = policy_chosen.shape[0]
    width = 3
    per_token = torch.zeros(2 * n, width, dtype=policy_chosen.dtype)
    per_token[:, 0] = torch.cat([policy_chosen, policy_rejected])  # TRL's batch: chosen rows, then rejected
    outputs = types.SimpleNamespace(log_probs=per_token, entropy=torch.zeros(2 * n, width),
                                    mean_logits=torch.zeros(2 * n, width),
                                    is_top1=torch.zeros(2 * n, width, dtype=torch.bool))
    accelerator = types.SimpleNamespace(device="cpu", gather_for_metrics=lambda x: x, gather=lambda x: x)
    trainer = types.SimpleNamespace(
        model=types.SimpleNamespace(training=True), accelerator=accelerator, aux_loss_enabled=False, ld_alpha=None,
        precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=["sigmoid"], loss_weights=[1.0],
        beta=beta, use_weighting=False, _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _total_train_tokens=0, _tp_size=1)
    inputs = {"input_ids": torch.zeros(2 * n, width + 1, dtype=torch.long),
              "attention_mask": torch.ones(2 * n, width + 1, dtype=torch.long),
              "completion_mask": torch.ones(2 * n, width + 1, dtype=torch.long),
              "ref_chosen_logps": reference_chosen, "ref_rejected_logps": reference_rejected}
    loss = trl.DPOTrainer._compute_loss(trainer, lambda **kwargs: outputs, inputs, return_outputs=False)
    return loss, trainer._metrics["train"]


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dpo_loss_equals_trl(beta, dtype):
    g = torch.Generator().manual_seed(int(beta * 10))
    logps = [-30 * torch.rand(16, generator=g, dtype=torch.float64) for _ in range(4)]
    logps = [x.to(dtype) for x in logps]
    ours = dpo_loss(*logps, beta=beta)
    theirs, metrics = trl_dpo_loss(*logps, beta=beta)
    assert abs(float(ours) - float(theirs)) < 1e-6
    # TRL's logged rewards are our implicit rewards
    chosen = implicit_rewards(logps[0], logps[2], beta)
    rejected = implicit_rewards(logps[1], logps[3], beta)
    assert metrics["rewards/chosen"][-1] == pytest.approx(float(chosen.mean()), abs=1e-5)
    assert metrics["rewards/accuracies"][-1] == pytest.approx(float((chosen > rejected).float().mean()))


def test_dpo_loss_properties():
    x = -torch.rand(5, dtype=torch.float64) * 10
    assert float(dpo_loss(x, x + 2, x, x + 2)) == pytest.approx(math.log(2))  # policy = reference
    huge = torch.tensor([-2000.0, 2000.0])
    z = torch.zeros(2)
    assert torch.isfinite(dpo_loss(huge, z, z, z, beta=1.0))  # logsigmoid, not log(sigmoid)
    pc = torch.tensor([-3.0], requires_grad=True)
    pr = torch.tensor([-2.0], requires_grad=True)
    dpo_loss(pc, pr, torch.tensor([-3.5]), torch.tensor([-1.0])).backward()
    assert pc.grad < 0 < pr.grad  # descending the loss raises chosen, lowers rejected


def test_response_log_probs_equal_summed_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 10, 17, generator=g, requires_grad=True)
    labels = torch.randint(17, (3, 10), generator=g)
    labels[:, :4] = -100
    labels[1, 8:] = -100
    got = response_log_probs(logits, labels)
    want = -F.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:], reduction="none").sum(-1)
    assert torch.allclose(got, want, atol=1e-5)
    got.sum().backward()
    assert logits.grad[:, :3].abs().sum() == 0  # positions predicting prompt tokens get no gradient
    assert logits.grad[1, 7:].abs().sum() == 0


def test_preference_pairs():
    xs = [Instruction("count", "", "p1", "A has 3 coins now."), Instruction("first", "", "p2", "A got home first.")]
    pairs = preference_pairs(xs, [["A has 3 coins now.", " A has 4 coins now.", "x"], ["A got home first."] * 3])
    assert pairs == [PreferencePair("p1", "A has 3 coins now.", "A has 4 coins now.", "count")]
    with pytest.raises(ValueError):
        preference_pairs(xs, [[]])


def test_train_dpo_prefers_chosen_and_leaves_the_reference_alone():
    text = " ".join(x.prompt + " " + x.answer for x in generate_instructions(200, seed=5))
    tokenizer = add_chat_tokens(BPETokenizer.train(text, vocab_size=320))
    torch.manual_seed(0)
    reference = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=256, n_layer=1, n_head=2, n_embd=16))
    examples = generate_instructions(40, seed=9, tasks=("count",))
    # rejected: the same sentence with the number one higher (as likely as the chosen one to a random model)
    pairs = [PreferencePair(x.prompt, x.answer, re.sub(r"\d+", lambda m: str(int(m[0]) + 1), x.answer), x.task)
             for x in examples]
    before = copy.deepcopy(reference.state_dict())
    policy = copy.deepcopy(reference)
    accuracy_before = preference_accuracy(policy, tokenizer, pairs)
    history = train_dpo(policy, tokenizer, pairs, steps=30, beta=0.5, batch_size=8, lr=3e-3, reference=reference,
                        progress=False)
    assert history["loss"][0] == pytest.approx(math.log(2), abs=1e-5)  # the policy starts as its reference
    assert history["loss"][-1] < 0.5 and history["margin"][-1] > history["margin"][0]
    assert accuracy_before < 0.8
    assert preference_accuracy(policy, tokenizer, pairs) >= 0.9
    assert all(torch.equal(v, reference.state_dict()[k]) for k, v in before.items())
    # pair_log_probs scores the responses as chat_batch labels them
    chosen, _ = pair_log_probs(reference, tokenizer, pairs[:3])
    ids, labels = chat_batch(tokenizer, [Instruction(x.task, "", x.prompt, x.chosen) for x in pairs[:3]])
    with torch.no_grad():
        assert torch.allclose(chosen.detach(), response_log_probs(reference(ids)[0], labels), atol=1e-5)
