"""Putting a pretrained encoder to work on labelled sentences (chapters 7 and 8).

Two ways: with no training at all, by asking the masked LM to fill in a word
that gives the answer away (fill_mask, zero_shot_positive); or by fine-tuning
a classifier (course_lib.bert.BertForSequenceClassification) on (text, label)
examples: the batches, one optimisation step, predictions and accuracy, and
the whole loop. Models and tokenizers are duck-typed: a BERT of
course_lib.bert and its BertTokenizer, or anything called the same way
(chapter 8's ULMFiT classifier, course_lib/ulmfit.py).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from course_lib.data.word_tokenizer import BertTokenizer
from course_lib.training import fit, warmup_linear_decay

__all__ = ["fill_mask", "zero_shot_positive", "classification_batch", "fine_tune_step", "predict_labels",
           "evaluate_classifier", "fine_tune_classifier"]


# --------------------------------------------------------------------------- zero-shot: fill in a word


@torch.no_grad()
def fill_mask(model: nn.Module, texts_a: Sequence[str], texts_b: Sequence[str] | None = None,
              candidates: Sequence[str] | None = None, tokenizer: BertTokenizer | None = None) -> Tensor:
    """Log-probabilities of the words at the first [MASK] of each input.

    >>> fill_mask(model, ["the soup was wonderful ."], ["anna [MASK] ."], ["smiled", "frowned"])

    Returns (batch, vocab_size), or (batch, len(candidates)) for the given
    candidate words. Asking a masked LM to fill in a word is a way to use it
    with no fine-tuning at all ("text-to-text": the task is phrased as text).
    """
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("pass tokenizer= (the model has no .tokenizer)")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batch = {k: v.to(device) for k, v in tokenizer.batch(texts_a, texts_b).items()}
    is_mask = batch["input_ids"] == tokenizer.mask_id
    if not is_mask.any(1).all():
        missing = [i for i, has in enumerate(is_mask.any(1).tolist()) if not has]
        raise ValueError(f"inputs {missing[:5]} have no [MASK] token to fill")
    first = is_mask.int().argmax(1)  # position of the first [MASK] in each row
    logits = model(**batch)[torch.arange(len(first), device=device), first]
    model.train(was_training)
    log_probs = logits.log_softmax(-1)
    if candidates is None:
        return log_probs
    unknown = [w for w in candidates if w not in tokenizer.stoi]
    if unknown:
        raise ValueError(f"candidate words not in the vocabulary: {unknown}")
    return log_probs[:, [tokenizer.stoi[w] for w in candidates]]


def zero_shot_positive(model: nn.Module, texts: Sequence[str], prompt: str = "anna [MASK] .",
                       positive: Sequence[str] = ("smiled", "laughed"), negative: Sequence[str] = ("frowned", "sighed"),
                       tokenizer: BertTokenizer | None = None) -> Tensor:
    """Sentiment with no labels: is `prompt`'s blank, after each text, more likely a positive word?

    Each text is sentence A and `prompt` sentence B; the probabilities of the
    `positive` words at the [MASK] are added up and compared with the
    `negative` ones'. Returns (len(texts),) booleans, True = positive.
    """
    log_probs = fill_mask(model, texts, [prompt] * len(texts), list(positive) + list(negative), tokenizer)
    return log_probs[:, :len(positive)].logsumexp(-1) > log_probs[:, len(positive):].logsumexp(-1)


# --------------------------------------------------------------------------- fine-tuning a classifier


def classification_batch(tokenizer: BertTokenizer, examples: Sequence, device: torch.device | str | None = None
                         ) -> dict[str, Tensor]:
    """Tensors for (text, label, ...) examples: the tokenizer's batch plus "labels" (batch,)."""
    batch = tokenizer.batch([ex[0] for ex in examples])
    batch["labels"] = torch.tensor([int(ex[1]) for ex in examples])
    return {k: v.to(device) for k, v in batch.items()} if device is not None else batch


def fine_tune_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, Tensor],
                   clip_norm: float | None = 1.0) -> float:
    """One optimisation step on a batch {"input_ids", "token_type_ids", "attention_mask", "labels"}.

    Forward with the labels, backward, clip the gradient norm, step; returns the loss.
    """
    model.train()
    _, loss = model(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask"),
                    labels=batch["labels"])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], clip_norm)
    optimizer.step()
    return loss.item()


@torch.no_grad()
def predict_labels(model: nn.Module, tokenizer: BertTokenizer, examples: Sequence, batch_size: int = 256) -> Tensor:
    """The predicted class of each (text, label, ...) example or text, (len(examples),), in eval mode
    (the model's mode is restored after)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    texts = [ex if isinstance(ex, str) else ex[0] for ex in examples]
    predictions = []
    for i in range(0, len(texts), batch_size):
        b = {k: v.to(device) for k, v in tokenizer.batch(texts[i:i + batch_size]).items()}
        predictions.append(model(b["input_ids"], b["token_type_ids"], b["attention_mask"]).argmax(-1).cpu())
    model.train(was_training)
    return torch.cat(predictions)


def evaluate_classifier(model: nn.Module, tokenizer: BertTokenizer, examples: Sequence,
                        batch_size: int = 256) -> float:
    """Accuracy of `model` on (text, label, ...) examples."""
    labels = torch.tensor([int(ex[1]) for ex in examples])
    return (predict_labels(model, tokenizer, examples, batch_size) == labels).float().mean().item()


def fine_tune_classifier(model: nn.Module, tokenizer: BertTokenizer, train: Sequence, val: Sequence | None = None,
                         *, steps: int = 300, batch_size: int = 32, lr: float = 3e-4, weight_decay: float = 0.01,
                         warmup: float = 0.1, seed: int = 0, progress: bool = True) -> dict[str, list]:
    """Fine-tune the trainable parameters of `model` on (text, label, ...) examples with AdamW.

    The learning rate rises linearly for the first `warmup` fraction of the
    steps, then falls linearly to 0, as in BERT's fine-tuning recipe. Batches are
    drawn by a generator seeded with `seed`. Returns course_lib.training.fit's
    history, with "val_acc" evaluated 10 times when `val` is given.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (requires_grad=False everywhere)")
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear_decay(steps, warmup))
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    order: list[int] = []

    def batch_fn(step: int) -> dict[str, Tensor]:
        nonlocal order
        if len(order) < batch_size:  # epochs: every example once before any twice
            order += torch.randperm(len(train), generator=g).tolist()
        idx, order = order[:batch_size], order[batch_size:]
        return classification_batch(tokenizer, [train[i] for i in idx], device)

    def loss_fn(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        return model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"], labels=batch["labels"])[1]

    eval_fn = None if val is None else (lambda m: {"val_acc": evaluate_classifier(m, tokenizer, val)})
    return fit(model, optimizer, batch_fn, loss_fn, steps, clip_norm=1.0, scheduler=scheduler,
               eval_fn=eval_fn, progress=progress)
