"""ULMFiT (Howard and Ruder, 2018): pretrain a recurrent language model on unlabelled text, then
fine-tune it as a classifier (chapter 07, before BERT).

It is the step between chapter 01 and BERT: the model is chapter 01's LSTM language model
(`rnn.CharLM`, here over words), pretrained by predicting the next word of the same unlabelled text
BERT is pretrained on; its embedding and LSTM then read a sentence for a classifier head. ULMFiT's
two fine-tuning tricks, both here:

- **discriminative learning rates**: each layer group gets its own rate, the head the largest and
  every group below it the rate above divided by 2.6 (the paper's factor), because the lower layers
  hold the general knowledge pretraining found and should move least;
- **gradual unfreezing**: train the head alone first, then unfreeze the LSTM, then the embeddings,
  so the random head's first large gradients do not wreck what pretraining learned.

The head reads ULMFiT's *concat pooling*: the last real state, the maximum and the mean of the
LSTM's states over the sentence's real tokens.
"""
from __future__ import annotations

import math
import time
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .rnn import CharLM

__all__ = ["lm_inputs_and_targets", "pretrain_lm", "lm_perplexity", "LSTMClassifier", "layer_groups",
           "discriminative_learning_rates", "fine_tune"]


def lm_inputs_and_targets(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-word prediction on padded rows: inputs (B, T-1) and targets (B, T-1), -100 where the
    next position is padding (F.cross_entropy ignores those)."""
    targets = input_ids[:, 1:].masked_fill(attention_mask[:, 1:] == 0, -100)
    return input_ids[:, :-1], targets


def pretrain_lm(lm: CharLM, data: dict[str, torch.Tensor], steps: int, batch_size: int = 64, lr: float = 3e-3,
                seed: int = 0, progress: bool = True) -> list[float]:
    """Train `lm` on the rows of data ("input_ids", "attention_mask") with chapter 01's recipe (training.fit,
    Adam, gradient clipping at 1), every row once per epoch; returns the loss of every step."""
    from .training import fit

    generator, order = torch.Generator().manual_seed(seed), []

    def next_rows(step):
        nonlocal order
        if len(order) < batch_size:
            order += torch.randperm(len(data["input_ids"]), generator=generator).tolist()
        rows, order = order[:batch_size], order[batch_size:]
        return lm_inputs_and_targets(data["input_ids"][rows], data["attention_mask"][rows])

    def next_word_loss(model, batch):
        inputs, targets = batch
        logits, _ = model(inputs)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)

    history = fit(lm, torch.optim.Adam(lm.parameters(), lr=lr), next_rows, next_word_loss, steps, clip_norm=1.0,
                  progress=progress)
    return history["loss"]


@torch.no_grad()
def lm_perplexity(lm: CharLM, data: dict[str, torch.Tensor], batch_size: int = 256) -> float:
    """Next-word perplexity over the real tokens of data's rows."""
    was_training = lm.training
    lm.eval()
    total, count = 0.0, 0
    for start in range(0, len(data["input_ids"]), batch_size):
        inputs, targets = lm_inputs_and_targets(data["input_ids"][start:start + batch_size],
                                                data["attention_mask"][start:start + batch_size])
        logits, _ = lm(inputs)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100,
                                 reduction="sum").item()
        count += (targets != -100).sum().item()
    lm.train(was_training)
    return math.exp(total / count)


class LSTMClassifier(nn.Module):
    """A language model's embedding and LSTM, then concat pooling and a linear head.

    forward(input_ids (B, T), token_type_ids=None, attention_mask (B, T), labels=None) -> logits (B, C), or
    (logits, loss): the same call as the course's BERT classifier, so the same batches and helpers
    (classification.classification_batch, classification.predict_labels) serve both. Padding is on the right, so the LSTM's states at the real tokens never see it.
    """

    def __init__(self, lm: CharLM, num_classes: int = 2, dropout: float = 0.2):
        super().__init__()
        self.embed, self.rnn = lm.embed, lm.rnn
        hidden = lm.config["hidden_size"]
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(3 * hidden, num_classes)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None):
        # token_type_ids: ignored (one sentence at a time); accepted so BERT's helpers can call this model
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        states, _ = self.rnn(self.embed(input_ids))                          # (B, T, H)
        real = attention_mask.bool().unsqueeze(-1)
        last = states[torch.arange(len(states)), attention_mask.sum(1) - 1]   # the state after the last real token
        largest = states.masked_fill(~real, float("-inf")).max(dim=1).values
        mean = (states * real).sum(1) / real.sum(1)
        logits = self.head(self.dropout(torch.cat([last, largest, mean], dim=-1)))
        if labels is None:
            return logits
        return logits, F.cross_entropy(logits, labels)


def layer_groups(model: LSTMClassifier) -> list[list[nn.Parameter]]:
    """ULMFiT's layer groups, bottom to top: the embedding, the LSTM, the head."""
    return [list(model.embed.parameters()), list(model.rnn.parameters()), list(model.head.parameters())]


def discriminative_learning_rates(top_lr: float, groups: int = 3, factor: float = 2.6) -> list[float]:
    """Bottom to top: top_lr / factor^(groups - 1), ..., top_lr / factor, top_lr."""
    return [top_lr / factor ** (groups - 1 - g) for g in range(groups)]


def fine_tune(model: LSTMClassifier, batches: Sequence[dict[str, torch.Tensor]], lr: float = 3e-3,
              discriminative: bool = False, gradual_unfreezing: bool = False, progress: bool = True,
              desc: str = "fine-tuning") -> tuple[list[float], float]:
    """Fine-tune on the given batches (one step each), AdamW with BERT's warm-up and linear decay.

    discriminative: the layer groups' rates from discriminative_learning_rates(lr).
    gradual_unfreezing: the head alone for the first third of the steps, then the LSTM too, then all.
    Returns the loss of every step and the seconds it took.
    """
    from tqdm.auto import tqdm

    from .classification import fine_tune_step
    from .training import warmup_linear_decay

    groups = layer_groups(model)
    rates = discriminative_learning_rates(lr, len(groups)) if discriminative else [lr] * len(groups)
    optimizer = torch.optim.AdamW([{"params": params, "lr": rate} for params, rate in zip(groups, rates)],
                                  weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear_decay(len(batches), warmup=0.1))
    start, losses = time.perf_counter(), []
    for step, batch in enumerate(tqdm(batches, desc=desc, leave=False, disable=not progress)):
        # gradual unfreezing: one more group (from the top) trains at each third of the run
        trainable = len(groups) if not gradual_unfreezing else 1 + (3 * step) // len(batches)
        for g, params in enumerate(groups):
            for p in params:
                p.requires_grad_(g >= len(groups) - trainable)
        # BERT's step: its zero_grad(set_to_none) leaves a frozen group's grad None, so AdamW skips it
        losses.append(fine_tune_step(model, optimizer, batch, clip_norm=1.0))
        schedule.step()
    for p in model.parameters():
        p.requires_grad_(True)
    return losses, time.perf_counter() - start
