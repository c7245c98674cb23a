"""Supervised fine-tuning: from a text continuer to an instruction follower (chapter 9).

A pretrained GPT continues text. To make it answer, fine-tune it on
conversations written in a fixed **chat template**:

    <|user|>{prompt}<|assistant|> {response}<|end|>

The three markers are new **special tokens**: the tokenizer never produces them
from text (so a user cannot forge a turn by typing "<|assistant|>"), the model
gets a new embedding row for each, and <|end|> is what the model learns to
emit when its answer is done, so generation knows where to stop.

The loss is the usual next-token cross-entropy, but only on the response: the
prompt is given, not something to imitate, so its labels are -100 (ignored), as
are the padding's. Labels are aligned with the input ids, as in HuggingFace
transformers: the shift (position t predicts token t + 1) happens in the loss.

Read top to bottom: the template and its tokens, labels and batches, the loss,
training, answering (generation that stops at <|end|>), and evaluation.
"""
from __future__ import annotations

import dataclasses
import re
from collections import Counter, defaultdict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.data.batching import pad_sequences
from course_lib.data.instructions import ANSWER_FORMS, Instruction
from course_lib.data.tokenizers import BPETokenizer
from course_lib.gpt import GPT
from course_lib.training import fit, warmup_cosine_lr

__all__ = [
    "USER", "ASSISTANT", "END", "CHAT_TOKENS",
    "add_chat_tokens", "extend_vocabulary", "encode_chat", "response_labels", "chat_batch", "sft_loss",
    "fine_tune", "generate_answers", "exact_match", "evaluate", "failure_kind", "failure_table",
]

USER, ASSISTANT, END = "<|user|>", "<|assistant|>", "<|end|>"
CHAT_TOKENS = (USER, ASSISTANT, END)


# --------------------------------------------------------------------------- the template and its tokens


def add_chat_tokens(tokenizer: BPETokenizer) -> BPETokenizer:
    """A copy of `tokenizer` with USER, ASSISTANT and END as special tokens after its own ids.

    Ordinary ids keep their meaning, so the pretrained embedding rows stay valid.
    """
    specials = list(tokenizer.special_tokens) + [t for t in CHAT_TOKENS if t not in tokenizer.special_tokens]
    return BPETokenizer(tokenizer.merges, specials, tokenizer.pattern)


def extend_vocabulary(model: GPT, vocab_size: int, init: str = "mean", generator: torch.Generator | None = None
                      ) -> GPT:
    """A copy of `model` with `vocab_size` token ids; the rows it lacked are new.

    init="mean": every new row is the mean of the old rows. With tied weights
        the row is also the new token's output vector, and the mean makes its
        logit the average logit, far below the likely tokens': at the start
        the model does not predict the new tokens (Hewitt, 2021).
    init="random": the usual N(0, 0.02^2) of a fresh embedding, as if the rows
        were trained from scratch.
    """
    old = model.config.vocab_size
    if vocab_size < old:
        raise ValueError(f"vocab_size ({vocab_size}) must be at least the model's {old}")
    if init not in ("mean", "random"):
        raise ValueError(f"init must be 'mean' or 'random', got {init!r}")
    config = dataclasses.replace(model.config, vocab_size=vocab_size)
    new = GPT(config).to(model.tok_emb.weight.device)
    state = {k: v for k, v in model.state_dict().items() if k not in ("tok_emb.weight", "lm_head.weight")}
    missing, unexpected = new.load_state_dict(state, strict=False)
    if unexpected or set(missing) != {"tok_emb.weight", "lm_head.weight"}:
        # e.g. a model with LoRA layers: its weights would not land where this GPT expects them
        raise ValueError(f"the model's weights do not fit a plain GPT: missing {sorted(set(missing))}, "
                         f"unexpected {unexpected}")
    with torch.no_grad():
        weight = model.tok_emb.weight
        new.tok_emb.weight[:old] = weight
        if init == "mean":
            new.tok_emb.weight[old:] = weight.mean(dim=0)
        else:
            new.tok_emb.weight[old:] = 0.02 * torch.randn(vocab_size - old, weight.shape[1], generator=generator)
    return new.train(model.training)


def encode_chat(tokenizer: BPETokenizer, prompt: str, response: str | None = None) -> tuple[list[int], int]:
    """Token ids of one turn in the chat template, and the prompt's length in tokens.

    ids = [USER] + encode(prompt) + [ASSISTANT] + encode(" " + response) + [END]
    prompt_length counts everything up to and including ASSISTANT: the part
    the model is given. Without a response, only that part (what generation
    starts from). The special ids are inserted, never encoded from text.
    """
    special = tokenizer.special_tokens
    missing = [t for t in CHAT_TOKENS if t not in special]
    if missing:
        raise ValueError(f"the tokenizer has no {missing}: make it with add_chat_tokens(tokenizer)")
    ids = [special[USER]] + tokenizer.encode(prompt) + [special[ASSISTANT]]
    prompt_length = len(ids)
    if response is not None:
        # the space: the pretrained vocabulary has " Ben" as one token, "Ben" as two
        ids += tokenizer.encode(" " + response) + [special[END]]
    return ids, prompt_length


# --------------------------------------------------------------------------- labels, batches and the loss


def response_labels(input_ids: Tensor, prompt_lengths: Tensor, lengths: Tensor) -> Tensor:
    """Labels for a right-padded batch: the response tokens, -100 on the prompt and the padding.

    input_ids: (B, T); prompt_lengths, lengths: (B,) the prompt's and the whole
    sequence's number of tokens. labels[b, t] = input_ids[b, t] for
    prompt_lengths[b] <= t < lengths[b], else -100. Aligned with the inputs:
    the loss shifts them.
    """
    positions = torch.arange(input_ids.shape[1], device=input_ids.device)
    is_response = (positions >= prompt_lengths[:, None]) & (positions < lengths[:, None])
    return input_ids.masked_fill(~is_response, -100)


def chat_batch(tokenizer: BPETokenizer, examples: Sequence[Instruction], response_only: bool = True
               ) -> tuple[Tensor, Tensor]:
    """(input_ids, labels), both (B, T), right-padded with END.

    response_only=False scores every real token (the prompt too) except the
    first, which nothing predicts: the "loss on all tokens" variant.
    """
    encoded = [encode_chat(tokenizer, x.prompt, x.answer) for x in examples]
    input_ids, lengths = pad_sequences([ids for ids, _ in encoded], tokenizer.special_tokens[END])
    prompt_lengths = torch.tensor([p for _, p in encoded]) if response_only else torch.ones(len(encoded), dtype=torch.long)
    return input_ids, response_labels(input_ids, prompt_lengths, lengths)


def sft_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy over the labelled tokens; logits (B, T, V), labels (B, T) aligned with the inputs.

    Position t predicts token t + 1, so logits[:, :-1] meet labels[:, 1:]; the
    same as the loss of transformers' causal LMs given `labels`.
    """
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100)


# --------------------------------------------------------------------------- training


def fine_tune(model: GPT, tokenizer: BPETokenizer, examples: Sequence[Instruction], steps: int,
              batch_size: int = 16, lr: float = 1e-3, response_only: bool = True, seed: int = 0,
              eval_fn=None, eval_every: int | None = None, progress: bool = True, weight_decay: float = 0.0,
              warmup: int = 20, schedule_steps: int | None = None) -> dict:
    """Supervised fine-tuning with AdamW on batches drawn from `examples`; returns fit()'s history.

    Trains the parameters that require grad (all of them, or the LoRA matrices
    after lora.apply_lora). Learning rate: linear warm-up, then cosine decay to
    zero.
    schedule_steps: the schedule's length, if longer than `steps` (a run
    stopped early follows the start of the full run's schedule).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda i: warmup_cosine_lr(i, 1.0, warmup, schedule_steps or steps))
    order = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device

    def batch_fn(step: int):
        pick = torch.randint(len(examples), (batch_size,), generator=order).tolist()
        ids, labels = chat_batch(tokenizer, [examples[i] for i in pick], response_only)
        return ids.to(device), labels.to(device)

    def loss_fn(m: GPT, batch) -> Tensor:
        ids, labels = batch
        logits, _ = m(ids)
        return sft_loss(logits, labels)

    return fit(model, optimizer, batch_fn, loss_fn, steps, clip_norm=1.0, scheduler=schedule,
               eval_fn=eval_fn, eval_every=eval_every, progress=progress)


# --------------------------------------------------------------------------- answering


@torch.no_grad()
def generate_answers(model: GPT, tokenizer: BPETokenizer, prompts: Sequence[str], max_new_tokens: int = 16,
                     temperature: float = 0.0, top_k: int | None = None, generator: torch.Generator | None = None,
                     batch_size: int = 256) -> list[str]:
    """The model's response to each prompt: generated after the template, up to <|end|>.

    temperature 0 is greedy. Prompts are grouped by length, so each group runs
    as one batch without padding (learned positions make left padding change
    the answer). A response that never reaches <|end|> within max_new_tokens is
    returned as far as it got.
    """
    end = tokenizer.special_tokens[END]
    device = next(model.parameters()).device
    encoded = [encode_chat(tokenizer, p)[0] for p in prompts]
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, ids in enumerate(encoded):
        by_length[len(ids)].append(i)
    answers: list[str] = [""] * len(prompts)
    was_training = model.training
    model.eval()
    for length, rows in sorted(by_length.items()):
        new_tokens = min(max_new_tokens, model.config.block_size - length)
        for start in range(0, len(rows), batch_size):
            group = rows[start:start + batch_size]
            idx = torch.tensor([encoded[i] for i in group], device=device)
            out = model.generate(idx, new_tokens, temperature=temperature, top_k=top_k, generator=generator)
            for i, row in zip(group, out[:, length:].tolist()):
                if end in row:
                    row = row[:row.index(end)]
                answers[i] = tokenizer.decode([t for t in row if t < len(tokenizer.vocab)]).strip()
    model.train(was_training)
    return answers


def exact_match(predictions: Sequence[str], answers: Sequence[str]) -> float:
    """Share of predictions equal to their answer (surrounding spaces ignored)."""
    if len(predictions) != len(answers) or not answers:
        raise ValueError("need as many predictions as answers, and at least one")
    return sum(p.strip() == a.strip() for p, a in zip(predictions, answers)) / len(answers)


def evaluate(model: GPT, tokenizer: BPETokenizer, examples: Sequence[Instruction], **generation) -> dict:
    """Exact match per task and overall ("all"), and the predictions themselves."""
    predictions = generate_answers(model, tokenizer, [x.prompt for x in examples], **generation)
    scores: dict[str, float] = {}
    for task in sorted({x.task for x in examples}):
        rows = [i for i, x in enumerate(examples) if x.task == task]
        scores[task] = exact_match([predictions[i] for i in rows], [examples[i].answer for i in rows])
    scores["all"] = exact_match(predictions, [x.answer for x in examples])
    return {"scores": scores, "predictions": predictions}


def failure_kind(example: Instruction, prediction: str) -> str:
    """What went wrong with one answer, in a few words ("right" when nothing did).

    The answer's form (data.instructions.ANSWER_FORMS) splits it into parts:
    a prediction of another form is "wrong form"; otherwise the first part
    that differs is named, and whether the wrong value comes from the story
    (the model read the wrong fact) or not (it made one up).
    """
    prediction = prediction.strip()
    if prediction == example.answer:
        return "right"
    if not prediction:
        return "empty answer"
    form = re.compile(ANSWER_FORMS[example.task])
    got, want = form.fullmatch(prediction), form.fullmatch(example.answer)
    if got is None:
        return "wrong form"
    wrong = [k for k in want.groupdict() if got[k] != want[k]]
    if example.task == "date":
        return f"ISO date, wrong {' and '.join(wrong)}"
    part = wrong[0]
    if part == "number":
        return "number off by one" if abs(int(got[part]) - int(want[part])) == 1 else "wrong number"
    if got[part] in example.prompt:
        return f"wrong {part}, from the story"
    return f"{part} not in the story"


def failure_table(examples: Sequence[Instruction], predictions: Sequence[str]) -> dict[str, Counter]:
    """task -> Counter of failure kinds (right answers left out)."""
    table: dict[str, Counter] = defaultdict(Counter)
    for x, p in zip(examples, predictions):
        kind = failure_kind(x, p)
        if kind != "right":
            table[x.task][kind] += 1
    return dict(table)



# --------------------------------------------------------------------------- the shipped assistant
