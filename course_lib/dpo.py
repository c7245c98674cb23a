"""Preference tuning with DPO: prefer the right answer, stay close to where you started (chapter 9).

After supervised fine-tuning the model answers, but sampling shows it still
puts real probability on wrong answers. Preference data says which of two
responses is better; Direct Preference Optimization (Rafailov et al., 2023)
learns from such pairs without a separate reward model or reinforcement
learning. Its loss, for a prompt x, a chosen response y_w and a rejected y_l:

    loss = -log sigmoid( beta * [ (log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x)) ] )

pi is the model being trained (the policy), ref a frozen copy of where it
started. beta * (log pi - log ref) is the "implicit reward" of a response:
how much more likely the policy made it than the reference. The loss raises
the chosen response's reward against the rejected one's. The reference's
log-probabilities are constants: they hold nothing in place, they set when a
pair counts as learned. Each pair's gradient is weighted by
sigmoid(-beta * margin), which vanishes once the policy has moved the pair's
margin, relative to the reference, a few times 1 / beta; so beta decides how
far DPO pushes (small beta: far). The bound on how far the policy drifts is an
assumption of DPO's derivation, not something the loss enforces.

Here the pairs come from the model's own samples: chosen = a right answer,
rejected = a sampled wrong one. Exact answers make the preference certain.
"""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.data.instructions import Instruction
from course_lib.data.tokenizers import BPETokenizer
from course_lib.gpt import GPT
from course_lib.sft import chat_batch, generate_answers

__all__ = ["response_log_probs", "dpo_loss", "implicit_rewards", "PreferencePair", "preference_pairs",
           "sample_preference_pairs", "pair_log_probs", "preference_accuracy", "train_dpo"]


def response_log_probs(logits: Tensor, labels: Tensor) -> Tensor:
    """log p(response | prompt) of each sequence: the sum over its labelled tokens.

    logits: (B, T, V) for the input ids; labels: (B, T) aligned with the
    inputs, -100 where nothing is scored (prompt, padding). Position t
    predicts token t + 1, so logits[:, :-1] meet labels[:, 1:]. Returns (B,).
    A sum, not a mean: a sequence's probability is the product of its tokens'.
    """
    logits, labels = logits[:, :-1], labels[:, 1:]
    scored = labels != -100
    picked = logits.log_softmax(dim=-1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * scored).sum(dim=-1)


def implicit_rewards(policy_logps: Tensor, reference_logps: Tensor, beta: float = 0.1) -> Tensor:
    """beta * (log pi(y|x) - log ref(y|x)): how much DPO's policy prefers y over the reference."""
    return beta * (policy_logps - reference_logps)


def dpo_loss(policy_chosen_logps: Tensor, policy_rejected_logps: Tensor, reference_chosen_logps: Tensor,
             reference_rejected_logps: Tensor, beta: float = 0.1) -> Tensor:
    """The DPO loss, averaged over the batch; every argument a (batch,) tensor of summed log-probabilities.

    -log sigmoid(beta * (chosen log-ratio - rejected log-ratio)), each log-ratio
    the policy's log-probability minus the reference's. logsigmoid rather than
    log(sigmoid(.)): the latter gives -inf once the margin passes about -100.
    """
    margin = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    return -F.logsigmoid(beta * margin).mean()


# --------------------------------------------------------------------------- preference pairs


@dataclass(frozen=True)
class PreferencePair:
    """A prompt, a preferred (chosen) and a dispreferred (rejected) response."""

    prompt: str
    chosen: str
    rejected: str
    task: str = ""


def preference_pairs(examples: Sequence[Instruction], samples: Sequence[Sequence[str]]) -> list[PreferencePair]:
    """One pair per example that has a wrong sample: chosen = the right answer, rejected = the first wrong sample.

    samples[i]: the model's sampled responses to examples[i]. An example whose
    samples are all right teaches nothing new and gets no pair. The chosen
    response is the exact answer even when no sample found it: with exact
    answers we know it, and a right sample would be the same string.
    """
    if len(examples) != len(samples):
        raise ValueError(f"{len(examples)} examples but {len(samples)} lists of samples")
    pairs = []
    for x, responses in zip(examples, samples):
        wrong = [r for r in responses if r.strip() != x.answer]
        if wrong:
            pairs.append(PreferencePair(x.prompt, x.answer, wrong[0].strip(), x.task))
    return pairs


def sample_preference_pairs(model: GPT, tokenizer: BPETokenizer, examples: Sequence[Instruction],
                            num_samples: int = 4, temperature: float = 1.0, seed: int = 0) -> list[PreferencePair]:
    """Sample num_samples responses per example from `model` and make pairs of them (preference_pairs)."""
    generator = torch.Generator().manual_seed(seed)
    prompts = [x.prompt for x in examples]
    drawn = [generate_answers(model, tokenizer, prompts, temperature=temperature, generator=generator)
             for _ in range(num_samples)]
    return preference_pairs(examples, [list(s) for s in zip(*drawn)])


def pair_log_probs(model: GPT, tokenizer: BPETokenizer, pairs: Sequence[PreferencePair]) -> tuple[Tensor, Tensor]:
    """(chosen, rejected) summed response log-probabilities under `model`, each (len(pairs),)."""
    device = next(model.parameters()).device
    out = []
    for responses in ([p.chosen for p in pairs], [p.rejected for p in pairs]):
        # the same template and response-only labels as supervised fine-tuning
        ids, labels = chat_batch(tokenizer, [Instruction(p.task, "", p.prompt, r) for p, r in zip(pairs, responses)])
        logits, _ = model(ids.to(device))
        out.append(response_log_probs(logits, labels.to(device)))
    return out[0], out[1]


@torch.no_grad()
def preference_accuracy(model: GPT, tokenizer: BPETokenizer, pairs: Sequence[PreferencePair],
                        batch_size: int = 256) -> float:
    """Share of pairs whose chosen response the model finds more likely than the rejected one."""
    was_training = model.training
    model.eval()
    wins = 0
    for i in range(0, len(pairs), batch_size):
        chosen, rejected = pair_log_probs(model, tokenizer, pairs[i:i + batch_size])
        wins += int((chosen > rejected).sum())
    model.train(was_training)
    return wins / len(pairs)


def train_dpo(policy: GPT, tokenizer: BPETokenizer, pairs: Sequence[PreferencePair], steps: int,
              beta: float = 0.1, batch_size: int = 16, lr: float = 1e-4, reference: GPT | None = None,
              sft_weight: float = 0.0, seed: int = 0, eval_fn=None, eval_every: int | None = None,
              progress: bool = True) -> dict:
    """Train `policy` with the DPO loss on `pairs`; returns fit()'s history with the reward margins.

    sft_weight: add this times the chosen responses' mean cross-entropy per
    token (the "RPO" variant, TRL's rpo_alpha). The DPO loss alone is
    satisfied once each margin has moved a few times 1 / beta from the
    reference's, however unlikely the chosen response still is; the extra
    term makes the chosen responses likely outright.

    reference: the frozen model the log-ratios are measured against (default:
    a copy of the policy as it is now). Its log-probabilities never change, so
    they are computed once, before training. The history gets "margin" (the
    batch's mean chosen - rejected implicit reward) and "reward_accuracy" (the
    share of the batch whose margin is positive) at every step.
    """
    from course_lib.training import fit

    reference = copy.deepcopy(policy) if reference is None else reference
    reference.eval()
    with torch.no_grad():
        ref_chosen, ref_rejected = [], []
        for i in range(0, len(pairs), 256):
            c, r = pair_log_probs(reference, tokenizer, pairs[i:i + 256])
            ref_chosen.append(c)
            ref_rejected.append(r)
        ref_chosen, ref_rejected = torch.cat(ref_chosen), torch.cat(ref_rejected)

    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=0.0)
    order = random.Random(seed)
    chosen_tokens = torch.tensor([len(tokenizer.encode(" " + p.chosen)) + 1 for p in pairs])  # + <|end|>
    margins: list[float] = []
    accuracies: list[float] = []

    def batch_fn(step: int) -> list[int]:
        return order.sample(range(len(pairs)), min(batch_size, len(pairs)))

    def loss_fn(model: GPT, rows: list[int]) -> Tensor:
        chosen, rejected = pair_log_probs(model, tokenizer, [pairs[i] for i in rows])
        ref_c, ref_r = ref_chosen[rows].to(chosen.device), ref_rejected[rows].to(chosen.device)
        margin = (implicit_rewards(chosen, ref_c, beta) - implicit_rewards(rejected, ref_r, beta)).detach()
        margins.append(float(margin.mean()))
        accuracies.append(float((margin > 0).float().mean()))
        loss = dpo_loss(chosen, rejected, ref_c, ref_r, beta)
        if sft_weight:
            loss = loss + sft_weight * (-chosen / chosen_tokens[rows].to(chosen.device)).mean()
        return loss

    history = fit(policy, optimizer, batch_fn, loss_fn, steps, clip_norm=1.0, eval_fn=eval_fn,
                  eval_every=eval_every, progress=progress)
    history["margin"], history["reward_accuracy"] = margins, accuracies
    return history
