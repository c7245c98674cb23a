"""The shipped checkpoints: the recipes that make them, and the loaders that read them.

Three recipes, each for chapters that start from a trained model: GPT
(chapter 6, loaded again in 8 to 10), BERT (chapters 7 and 8) and the
assistant (chapter 9, instruction-tuned from the shipped GPT). This module
sits above the models (gpt, bert, sft import nothing from here), so the
chapters' modules never reach up to it.

`course pretrain gpt` (see cli.py) runs a recipe and writes into checkpoints/:

    gpt.safetensors       the weights, with the GPTConfig stored in the metadata
    gpt_tokenizer.json    the BPE tokenizer (JSON, never pickle)
    gpt.json              what was run and what it reached: settings, held-out
                          loss, bits per character, time, a fingerprint (the
                          first training losses) that tests re-create, and the
                          hash of the sources the run came from

A recipe is a function ``recipe(seed, steps, progress) -> Pretrained``; RECIPES
maps names to them, so the command knows nothing about any particular model.
Each recipe is deterministic: one thread, torch.use_deterministic_algorithms,
everything drawn from the seed. recipe_sources_hash (at the end) hashes
everything a recipe's result could depend on; while it equals the hash in the
shipped JSON, re-running the recipe would only repeat the run that made the
checkpoint, and the tests skip that long proof.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib import distributed, import_graph, set_seed
from course_lib.bert import BertConfig, BertForMaskedLM, mask_tokens
from course_lib.data import BPETokenizer, generate_stories, random_lm_batch, split_text
from course_lib.data.instructions import instruction_splits
from course_lib.data.sentence_pairs import PRETRAIN_STORIES, PRETRAIN_VISITS, pretraining_data
from course_lib.data.word_tokenizer import BertTokenizer, trim_padding
from course_lib.gpt import GPT, GPTConfig
from course_lib.precision import grad_scaler
from course_lib.sft import add_chat_tokens, evaluate, extend_vocabulary, fine_tune
from course_lib.training import (
    fit,
    load_checkpoint,
    read_checkpoint_config,
    save_checkpoint,
    warmup_cosine_lr,
    warmup_linear_decay,
)

__all__ = [
    "ASSISTANT_RECIPE",
    "BERT_MODEL",
    "BERT_RECIPE",
    "CHECKPOINTS",
    "GPT_RECIPE",
    "Pretrained",
    "RECIPES",
    "SCALABLE_RECIPES",
    "bits_per_char",
    "deterministic",
    "load_assistant",
    "load_bert",
    "load_gpt",
    "pretrain",
    "pretrain_bert",
    "pretrain_gpt",
    "recipe_sources",
    "recipe_sources_hash",
    "record_sources_hash",
    "save_pretrained",
    "train_assistant",
    "warmup_cosine_lr",
]

# The shipped checkpoints: the repository's checkpoints/ folder, next to course_lib/.
CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


@dataclass
class Pretrained:
    """What a recipe returns: the model, its tokenizer (if any) and its numbers."""

    model: nn.Module
    metrics: dict[str, Any]
    tokenizer: Any = None  # anything with .save(path)
    history: dict[str, list] = field(default_factory=dict)


# --------------------------------------------------------------------------- shared pieces


@contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seed torch, use one thread and deterministic kernels; restore the settings after.

    With one thread the order of every floating-point sum is fixed, so the
    same seed gives the same weights bit for bit on the same CPU and torch
    build (other CPUs may differ in the last bits: their vector units add in
    another order).
    """
    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    # cuBLAS refuses deterministic mode without a fixed workspace; read when CUDA starts (CPU: unused)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(was_deterministic)


@torch.no_grad()
def bits_per_char(model: GPT, ids: torch.Tensor, num_chars: int, batch_size: int = 32) -> dict[str, float]:
    """Held-out loss of a GPT on a token stream, per token and per character.

    ids: (N,) token ids of the held-out text; num_chars: the number of
    characters those tokens after the first stand for (every token is predicted
    except the first, which has no context). The stream is cut into
    consecutive windows of block_size tokens, each read from scratch, as
    chapter 1 scores its char-LSTM.

    Returns {"val_loss": mean nats per predicted token, "bits_per_char": total
    bits / num_chars, "tokens": N - 1}. Bits per character compares models with
    different tokenizers: a token that covers 4 characters may cost more bits
    than one character does, but less than four.
    """
    block = model.config.block_size
    if ids.dim() != 1 or len(ids) < 2:
        raise ValueError(f"ids must be a 1-D stream of at least 2 tokens, got shape {tuple(ids.shape)}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    starts = list(range(0, len(ids) - 1, block))
    total_nats = 0.0
    for i in range(0, len(starts), batch_size):
        group = starts[i:i + batch_size]
        # the last window may be short: pad it, and let ignore_index skip the padding
        x = torch.zeros(len(group), block, dtype=torch.long)
        y = torch.full((len(group), block), -100, dtype=torch.long)
        for row, s in enumerate(group):
            n = min(block, len(ids) - 1 - s)
            x[row, :n] = ids[s:s + n]
            y[row, :n] = ids[s + 1:s + 1 + n]
        logits, _ = model(x.to(device))
        nll = torch.nn.functional.cross_entropy(logits.flatten(0, 1).double(), y.to(device).flatten(),
                                                ignore_index=-100, reduction="sum")
        total_nats += float(nll)
    model.train(was_training)
    tokens = len(ids) - 1
    return {"val_loss": total_nats / tokens, "bits_per_char": total_nats / math.log(2) / num_chars,
            "tokens": tokens}


def _decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: decay the matrices (incl. embeddings), not biases and LayerNorm gains."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


# --------------------------------------------------------------------------- GPT


# Everything the GPT recipe depends on. The corpus and the held-out split are
# chapter 1's, so bits per character compare directly with its char-LSTM.
# Sized to train in 40 s on an idle CPU core (2 minutes on a busy one): 1024 BPE tokens
# (about 3.5 characters each, so 128 tokens hold a whole story), a 0.27M
# parameter model, many small batches (on this little data, more updates beat
# bigger batches for the same compute).
GPT_RECIPE: dict[str, Any] = dict(
    num_stories=700, corpus_seed=0, val_fraction=0.1,
    vocab_size=1024,
    block_size=128, n_layer=4, n_head=4, n_embd=64, dropout=0.0,
    batch_size=8, steps=800, max_lr=5e-3, min_lr=5e-4, warmup=40, weight_decay=0.1, clip_norm=1.0,
    fingerprint_steps=20, eval_every=100,
)


def gpt_corpus(recipe: dict[str, Any] = GPT_RECIPE) -> tuple[str, str]:
    """(train_text, val_text): chapter 1's generated stories and held-out split."""
    return split_text(generate_stories(recipe["num_stories"], seed=recipe["corpus_seed"]), recipe["val_fraction"])


def pretrain_gpt(seed: int = 0, steps: int | None = None, progress: bool = True,
                 stop_after: int | None = None, recipe: dict[str, Any] | None = None, *,
                 precision: str = "float32", accumulate: int = 1, device: str = "cpu") -> Pretrained:
    """Train GPT_RECIPE's small GPT on the stories; evaluate it on the held-out ones.

    steps: length of the learning-rate schedule (default: the recipe's).
    stop_after: stop after this many steps of that schedule (tests use it to
        re-create the start of the shipped run without running all of it).
    recipe: override GPT_RECIPE (a dict with the same keys).

    How it runs, which changes nothing the recipe learns from (the same
    global batches, the same steps):
    precision: "float32", or "bfloat16" / "float16" for torch.autocast
        (mixed precision: matmuls in 16 bits, weights and optimizer in 32;
        float16 with a GradScaler, on CUDA).
    accumulate: micro-batches per process per step (gradient accumulation):
        the same gradient in smaller pieces, for a batch that does not fit.
    device: "cpu" or "cuda".
    In processes started by torchrun (`course pretrain gpt --nproc N`), the
    model is wrapped in DistributedDataParallel: every process draws the same
    global batch and computes its rows of it; rank 0 alone evaluates and
    returns the metrics the files are written from.
    """
    r = dict(GPT_RECIPE if recipe is None else recipe)
    if steps is not None:
        r["steps"] = steps
    run_steps = r["steps"] if stop_after is None else min(stop_after, r["steps"])
    start = time.perf_counter()
    with deterministic(seed):
        train_text, val_text = gpt_corpus(r)
        # The tokenizer learns from the training text only; bytes cover the rest.
        tokenizer = BPETokenizer.train(train_text, r["vocab_size"])
        train_ids = torch.tensor(tokenizer.encode(train_text))
        val_ids = torch.tensor(tokenizer.encode(val_text))
        config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=r["block_size"], n_layer=r["n_layer"],
                           n_head=r["n_head"], n_embd=r["n_embd"], dropout=r["dropout"])
        model = GPT(config).to(device)
        rank, world_size = distributed.rank_and_world_size()
        main = rank == 0
        if r["batch_size"] % (world_size * accumulate) != 0:
            raise ValueError(f"the global batch of {r['batch_size']} rows does not split into {world_size} "
                             f"processes x {accumulate} micro-batches")
        # DDP broadcasts rank 0's weights at the start (here they are equal anyway:
        # same seed) and all-reduces the gradients during backward.
        trained = model if world_size == 1 else nn.parallel.DistributedDataParallel(
            model, device_ids=[torch.cuda.current_device()] if device.startswith("cuda") else None)
        scaler = grad_scaler(device, precision)
        optimizer = torch.optim.AdamW(_decay_groups(model, r["weight_decay"]), lr=r["max_lr"], betas=(0.9, 0.95))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda i: warmup_cosine_lr(i, 1.0, r["warmup"], r["steps"], r["min_lr"] / r["max_lr"]))
        batches = torch.Generator().manual_seed(seed)
        num_chars = len(tokenizer.decode(val_ids[1:].tolist()))

        def held_out(m: GPT) -> dict[str, float]:
            scores = bits_per_char(m, val_ids, num_chars)
            return {"val_loss": scores["val_loss"], "bits_per_char": scores["bits_per_char"]}

        def loss_fn(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            return m(*batch)[1]

        history = fit(
            trained, optimizer,
            # every process draws the same global batch from the same generator
            batch_fn=lambda step: random_lm_batch(train_ids, r["batch_size"], r["block_size"], generator=batches),
            loss_fn=loss_fn,
            grad_fn=lambda m, batch: distributed.data_parallel_backward(
                m, loss_fn, batch, accumulate=accumulate, device=device, precision=precision, scaler=scaler),
            scaler=scaler,
            steps=run_steps, clip_norm=r["clip_norm"], scheduler=schedule, progress=progress and main,
            eval_fn=(lambda _: held_out(model)) if main else None, eval_every=r["eval_every"],
        )
        train_seconds = time.perf_counter() - start
    if not main:
        return Pretrained(model=model.eval(), metrics={}, tokenizer=tokenizer, history=history)
    metrics = {
        "val_loss": history["val_loss"][-1],
        "bits_per_char": history["bits_per_char"][-1],
        "val_tokens": len(val_ids) - 1,
        "val_chars": num_chars,
        "chars_per_token": len(train_text) / len(train_ids),
        "final_train_loss": history["loss"][-1],
        "steps": run_steps,
        "seconds": train_seconds,
        "parameters": model.num_parameters(non_embedding=False),
        "fingerprint_losses": history["loss"][: r["fingerprint_steps"]],
        "processes": world_size,
        "accumulate": accumulate,
        "precision": precision,
        "device": device,
        "history": {k: history[k] for k in ("step", "loss", "lr", "eval_step", "val_loss", "bits_per_char")},
        "recipe": r,
        "seed": seed,
        "torch": torch.__version__,
    }
    model.eval()
    return Pretrained(model=model, metrics=metrics, tokenizer=tokenizer, history=history)


# --------------------------------------------------------------------------- BERT


# The model BERT's recipe trains: BertConfig's sizes (the vocabulary comes from the text).
# Two layers are enough for this text; no dropout, since with fresh masks at every
# step the model never sees the same example twice.
BERT_MODEL: dict[str, Any] = dict(max_position=48, n_layer=2, n_head=4, d_model=128, d_ff=256, dropout=0.0)
# About two minutes on one CPU thread. The amount of text is course_lib.data.sentence_pairs'.
BERT_RECIPE: dict[str, Any] = dict(BERT_MODEL, stories=PRETRAIN_STORIES, visits=PRETRAIN_VISITS, steps=2000,
                                   batch_size=32, lr=2e-3)


def _mlm_step_loss(model: BertForMaskedLM, batch: dict[str, Tensor], tokenizer: BertTokenizer,
                   generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Mask a batch, run the model, and score only the masked positions.

    Returns (loss, predictions, targets) over the chosen positions. Applying the
    vocabulary-sized output layer to the ~15 % chosen positions only, instead of
    all of them, makes pretraining noticeably faster.
    """
    special = batch["attention_mask"] == 0
    special |= batch["input_ids"] == tokenizer.cls_id
    special |= batch["input_ids"] == tokenizer.sep_id
    masked, labels = mask_tokens(batch["input_ids"], tokenizer.vocab_size, tokenizer.mask_id, special,
                                 generator=generator)
    hidden = model.bert(masked, batch["token_type_ids"], batch["attention_mask"])
    keep = labels != -100
    logits = model.mlm_head(hidden[keep])
    targets = labels[keep]
    return F.cross_entropy(logits, targets), logits.argmax(-1), targets


@torch.no_grad()
def _mlm_eval(model: BertForMaskedLM, data: dict[str, Tensor], tokenizer: BertTokenizer,
              batch_size: int = 256, seed: int = 1234) -> dict[str, float]:
    """Masked-LM loss and accuracy on `data`, with the same masks every time (seeded)."""
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    total_loss, correct, count = 0.0, 0, 0
    for i in range(0, len(data["input_ids"]), batch_size):
        batch = trim_padding({k: v[i:i + batch_size].to(device) for k, v in data.items()})
        loss, pred, target = _mlm_step_loss(model, batch, tokenizer, g)
        total_loss += loss.item() * len(target)
        correct += (pred == target).sum().item()
        count += len(target)
    return {"val_mlm_loss": total_loss / count, "val_mlm_acc": correct / count}


def pretrain_bert(seed: int = 0, steps: int | None = None, progress: bool = True,
                  device: torch.device | str | None = None,
                  stop_after: int | None = None) -> tuple[BertForMaskedLM, dict]:
    """Pretrain a small BERT by masked language modelling on the generated text.

    Deterministic for a given seed (on the CPU). The returned model is in eval
    mode and carries its tokenizer as ``model.tokenizer``. ``metrics`` holds
    "val_mlm_loss", "val_mlm_acc" (on held-out documents), "train_loss" (mean of
    the last 100 steps), "steps", "seconds", and "history" (course_lib.training.fit's).

    With the defaults (seed 0): about 130 s on one CPU thread, validation MLM
    loss 1.09 and accuracy 0.70. Fine-tuned on the 400 labelled sentences of
    labelled_splits() (mean pooling, embeddings frozen) it reaches 0.867 test
    accuracy, against 0.518 for the same model trained from scratch (chapter 7).
    """
    r = BERT_RECIPE
    steps = r["steps"] if steps is None else steps
    set_seed(seed)
    tokenizer, data = pretraining_data(seed, BERT_MODEL["max_position"])
    config = BertConfig(vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id, **BERT_MODEL)
    device = torch.device(device) if device is not None else torch.device("cpu")
    model = BertForMaskedLM(config).to(device)
    train = {k: v.to(device) for k, v in data["train"].items()}
    g_batches = torch.Generator().manual_seed(seed)
    g_masks = torch.Generator().manual_seed(seed + 1)

    optimizer = torch.optim.AdamW(model.parameters(), lr=r["lr"], weight_decay=0.01, betas=(0.9, 0.98))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_linear_decay(steps, 0.06))

    def batch_fn(step: int) -> dict[str, Tensor]:
        idx = torch.randint(len(train["input_ids"]), (r["batch_size"],), generator=g_batches).to(device)
        return trim_padding({k: v[idx] for k, v in train.items()})

    def loss_fn(model: BertForMaskedLM, batch: dict[str, Tensor]) -> Tensor:
        return _mlm_step_loss(model, batch, tokenizer, g_masks)[0]

    def held_out(m: BertForMaskedLM) -> dict[str, float]:
        return _mlm_eval(m, data["val"], tokenizer)

    start = time.perf_counter()
    # stop_after: the first steps of the same schedule (a test re-creates them in seconds)
    run_steps = steps if stop_after is None else min(stop_after, steps)
    history = fit(model, optimizer, batch_fn, loss_fn, run_steps, clip_norm=1.0, scheduler=scheduler,
                  progress=progress, eval_fn=held_out, eval_every=max(1, steps // 8))
    seconds = time.perf_counter() - start
    model.eval()
    metrics = {
        "val_mlm_loss": history["val_mlm_loss"][-1],
        "val_mlm_acc": history["val_mlm_acc"][-1],
        "train_loss": sum(history["loss"][-100:]) / len(history["loss"][-100:]),
        "steps": run_steps,
        "seconds": seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_pairs": len(train["input_ids"]),
        "val_pairs": len(data["val"]["input_ids"]),
        # the first losses: a test re-creates them from the seed in seconds
        "fingerprint_losses": history["loss"][:20],
        "history": {k: history[k] for k in ("step", "loss", "lr", "eval_step", "val_mlm_loss", "val_mlm_acc")},
        "recipe": dict(r, steps=steps),
        "seed": seed,
        "torch": torch.__version__,
    }
    model.tokenizer = tokenizer
    return model, metrics


# --------------------------------------------------------------------------- loading the shipped checkpoints


def load_gpt(directory: str | os.PathLike = CHECKPOINTS, name: str = "gpt",
             config: GPTConfig | None = None) -> tuple[GPT, BPETokenizer]:
    """The pretrained GPT and its tokenizer from `directory` (default: the shipped checkpoints/).

    config: the model you expect; a file saved with another config is refused
    with the differences named (default: build whatever the file holds).
    The weights are read with safetensors (no pickle), and tensors whose names
    or shapes do not fit the model are refused too.
    """
    return _load_pretrained(Path(directory), name, "gpt", GPTConfig, GPT, BPETokenizer, config)


def load_bert(directory: str | os.PathLike = CHECKPOINTS, name: str = "bert",
              config: BertConfig | None = None) -> BertForMaskedLM:
    """The pretrained BERT from `directory` (default: the shipped checkpoints/), in eval mode.

    Its word tokenizer comes with it as ``model.tokenizer``. config: the model
    you expect; a file saved with another config is refused with the
    differences named (default: build whatever the file holds).
    """
    model, tokenizer = _load_pretrained(Path(directory), name, "bert", BertConfig, BertForMaskedLM, BertTokenizer,
                                        config)
    model.tokenizer = tokenizer
    return model


def load_assistant(directory: str | os.PathLike = CHECKPOINTS, name: str = "assistant",
                   config: GPTConfig | None = None) -> tuple[GPT, BPETokenizer]:
    """Chapter 9's instruction-tuned GPT and its tokenizer (with the chat tokens), in eval mode."""
    return _load_pretrained(Path(directory), name, "assistant", GPTConfig, GPT, BPETokenizer, config)


def _load_pretrained(directory: Path, name: str, recipe: str, config_class, model_class, tokenizer_class,
                     config=None):
    """The model (eval mode) and tokenizer of <name>.safetensors / <name>_tokenizer.json, checked."""
    weights = directory / f"{name}.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(weights)!r}: run `course pretrain {recipe}` to make it")
    if config is None:
        stored = read_checkpoint_config(weights)
        try:
            config = config_class(**stored)
        except TypeError:
            raise ValueError(f"{str(weights)!r} does not hold a {model_class.__name__}: its config is {stored}") from None
    model = model_class(config)
    # the config as a dict: training.load_checkpoint compares JSON values
    load_checkpoint(model, weights, config=dataclasses.asdict(config))
    tokenizer = tokenizer_class.load(directory / f"{name}_tokenizer.json")
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size} ids but the model {config.vocab_size}: "
                         "the two files come from different runs")
    return model.eval(), tokenizer


# --------------------------------------------------------------------------- the assistant


# `course pretrain assistant`: chapter 9's long run, shipped like the GPT it
# starts from (too long for the notebook's budget at one thread).
ASSISTANT_RECIPE: dict = dict(
    n_train=40_000, n_val=250, n_test=500, n_unseen=250, data_seed=0,
    steps=2000, batch_size=32, lr=3e-3, warmup=40, response_only=True, init="mean",
    fingerprint_steps=20,
)


def train_assistant(seed: int = 0, steps: int | None = None, progress: bool = True,
                    stop_after: int | None = None, recipe: dict | None = None, evaluate_after: bool = True):
    """Supervised fine-tuning of the shipped GPT on the generated instructions (ASSISTANT_RECIPE).

    Returns (model, tokenizer, metrics): exact match per task on the test split
    (seen templates) and on the held-out templates, the first training losses
    (a fingerprint tests re-create) and the settings. evaluate_after=False
    skips the evaluation (a test that only re-creates the first steps).
    """
    r = dict(ASSISTANT_RECIPE if recipe is None else recipe)
    if steps is not None:
        r["steps"] = steps
    run_steps = r["steps"] if stop_after is None else min(stop_after, r["steps"])
    start = time.perf_counter()
    gpt, base_tokenizer = load_gpt()
    tokenizer = add_chat_tokens(base_tokenizer)
    model = extend_vocabulary(gpt, tokenizer.vocab_size, init=r["init"], generator=torch.Generator().manual_seed(seed))
    splits = instruction_splits(r["n_train"], r["n_val"], r["n_test"], r["n_unseen"], seed=r["data_seed"])
    history = fine_tune(model, tokenizer, splits["train"], run_steps, batch_size=r["batch_size"], lr=r["lr"],
                        response_only=r["response_only"], seed=seed, progress=progress, warmup=r["warmup"],
                        schedule_steps=r["steps"])
    seconds = time.perf_counter() - start
    model.eval()
    test = evaluate(model, tokenizer, splits["test"])["scores"] if evaluate_after else {}
    unseen = evaluate(model, tokenizer, splits["unseen"])["scores"] if evaluate_after else {}
    metrics = {
        "test_exact_match": test, "unseen_exact_match": unseen, "steps": run_steps, "seconds": seconds,
        "fingerprint_losses": history["loss"][:r["fingerprint_steps"]],
        "history": {k: history[k] for k in ("step", "loss", "lr")},
        "recipe": r, "seed": seed, "torch": torch.__version__,
    }
    return model, tokenizer, metrics


# --------------------------------------------------------------------------- registry and saving


def _pretrain_bert(seed: int = 0, steps: int | None = None, progress: bool = True) -> Pretrained:
    model, metrics = pretrain_bert(seed=seed, steps=steps, progress=progress)
    return Pretrained(model=model, metrics=metrics, tokenizer=model.tokenizer)


def _pretrain_assistant(seed: int = 0, steps: int | None = None, progress: bool = True) -> Pretrained:
    model, tokenizer, metrics = train_assistant(seed=seed, steps=steps, progress=progress)
    return Pretrained(model=model, metrics=metrics, tokenizer=tokenizer)


RECIPES: dict[str, Callable[..., Pretrained]] = {
    "gpt": pretrain_gpt,
    "bert": _pretrain_bert,
    "assistant": _pretrain_assistant,
}


def _config_dict(model: nn.Module) -> dict:
    config = getattr(model, "config", None)
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, dict):
        return dict(config)
    raise ValueError(f"{type(model).__name__} has no .config (a dataclass or dict) to store with its weights")


def save_pretrained(name: str, result: Pretrained, directory: str | os.PathLike = CHECKPOINTS) -> list[Path]:
    """Write <name>.safetensors, <name>_tokenizer.json (if any) and <name>.json; return the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{name}.safetensors"]
    save_checkpoint(result.model, paths[0], config=_config_dict(result.model))
    if result.tokenizer is not None:
        paths.append(directory / f"{name}_tokenizer.json")
        result.tokenizer.save(paths[-1])
    paths.append(directory / f"{name}.json")
    paths[-1].write_text(json.dumps(result.metrics, indent=1, sort_keys=True) + "\n")
    return paths


# Recipes that take pretrain_gpt's options of how to run (processes, precision,
# accumulation, device); the others run in one float32 process on the CPU.
SCALABLE_RECIPES = ("gpt",)


def pretrain(name: str, seed: int = 0, steps: int | None = None, directory: str | os.PathLike = CHECKPOINTS,
             progress: bool = True, **how: Any) -> tuple[Pretrained, list[Path]]:
    """Run recipe `name` and save what it made into `directory`.

    how: precision=, accumulate=, device= for the recipes in SCALABLE_RECIPES.
    Under torchrun every process trains and rank 0 alone writes the files
    (the others return an empty list of paths).
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {sorted(RECIPES)}")
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    how = {k: v for k, v in how.items() if v is not None}
    if how and name not in SCALABLE_RECIPES:
        raise ValueError(f"recipe {name!r} runs in one float32 process; {sorted(how)} apply to "
                         f"{', '.join(SCALABLE_RECIPES)}")
    with distributed.process_group(how.get("device", "cpu")) as (rank, world_size):
        if world_size > 1 and name not in SCALABLE_RECIPES:
            raise ValueError(f"recipe {name!r} runs in one process; data-parallel runs: {', '.join(SCALABLE_RECIPES)}")
        # hashed before the run: what the run was made from, even if a file changes meanwhile
        sources = recipe_sources_hash(name)
        with deterministic(seed):
            result = RECIPES[name](seed=seed, steps=steps, progress=progress, **how)
        if rank == 0:
            result.metrics["sources_sha256"] = sources
        paths = save_pretrained(name, result, directory) if rank == 0 else []
    return result, paths


# --------------------------------------------------------------------------- what a recipe's result depends on


# Besides code: each recipe's settings, and the files it reads outside course_lib
# (the assistant starts from the shipped GPT, whatever directory it is written to).
RECIPE_SETTINGS: dict[str, dict[str, Any]] = {"gpt": GPT_RECIPE, "bert": BERT_RECIPE, "assistant": ASSISTANT_RECIPE}
RECIPE_INPUTS: dict[str, tuple[str, ...]] = {"gpt": (), "bert": (),
                                             "assistant": ("gpt.safetensors", "gpt_tokenizer.json")}
# Code that no recipe runs: the grader and the checks of learners' answers.
NOT_RECIPE_CODE = ("course_lib.checks", "course_lib.grader", "course_lib.grading", "course_lib.cli", "course_lib.lab",
                   "course_lib.doctor", "course_lib.labserver")


def recipe_sources(name: str, root: Path = import_graph.ROOT) -> list[Path]:
    """The files of `root` whose bytes recipe_sources_hash reads for recipe `name`, sorted.

    Every module the recipe's module reaches by the import graph (imports
    inside functions included: they run when the recipe does), and every file
    under course_lib/data/, the generated datasets' code and whatever data
    may come to sit beside it.
    """
    module = RECIPES[name].__module__
    files = import_graph.module_files(root)
    reached = import_graph.reachable(module, exclude=NOT_RECIPE_CODE, root=root)
    data = [p for p in (root / "course_lib" / "data").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")]
    return sorted({files[m] for m in reached} | set(data))


def recipe_sources_hash(name: str, root: Path = import_graph.ROOT, checkpoints: Path = CHECKPOINTS) -> str:
    """SHA-256 of what recipe `name`'s result depends on: its sources (recipe_sources), the files it
    reads from `checkpoints` (RECIPE_INPUTS), its settings (RECIPE_SETTINGS), torch's version, and
    Python's (the generated text comes from its `random`).

    `course pretrain` records it in <name>.json as "sources_sha256". Equal
    hashes mean a re-run would repeat the recorded one step for step (on the
    same CPU); a different hash says only that it might not.
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose from {sorted(RECIPES)}")
    digest = hashlib.sha256()

    def add(label: str, content: bytes) -> None:
        # the length keeps one part's end from passing for the next part's start
        digest.update(f"{label}\0{len(content)}\0".encode())
        digest.update(content)

    for path in recipe_sources(name, root):
        add(path.relative_to(root).as_posix(), path.read_bytes())
    for file in RECIPE_INPUTS[name]:
        add(f"checkpoints/{file}", (Path(checkpoints) / file).read_bytes())
    add("settings", json.dumps(RECIPE_SETTINGS[name], sort_keys=True).encode())
    add("torch", torch.__version__.encode())
    add("python", f"{sys.version_info.major}.{sys.version_info.minor}".encode())
    return digest.hexdigest()


def record_sources_hash(name: str, directory: str | os.PathLike = CHECKPOINTS) -> str:
    """Write the current recipe_sources_hash into <name>.json's "sources_sha256", changing nothing else.

    For a change that keeps what the recipe makes (a refactoring, a comment):
    once the full re-run test has passed on the new sources (it runs while the
    hashes differ), the shipped checkpoint is known to be what they make, and
    this records it. Returns the hash.
    """
    path = Path(directory) / f"{name}.json"
    metrics = json.loads(path.read_text())
    metrics["sources_sha256"] = recipe_sources_hash(name)
    path.write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    return metrics["sources_sha256"]
