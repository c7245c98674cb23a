"""Checks for chapter 07 (BERT)."""
from __future__ import annotations

import copy
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._common import _call, _expect_close, _generator, _randn, _report, expect_shape

# ---------------------------------------------------------------------------
# Chapter 07: BERT
#
# The masked-LM masking recipe (checked statistically, as properties, so any
# correct use of the random generator passes), the classification head (the
# check copies weights into the learner's module by name) and one fine-tuning
# step (checked as behaviour against a step computed by hand).
# References: course_lib.bert.mask_tokens, ClassificationHead, fine_tune_step.

__all__ = ["check_mask_tokens", "check_classification_head", "check_fine_tune_step"]


# --------------------------------------------------------------------------- exercise 1


def _masking_batch(gen: torch.Generator, rows: int = 200, seq: int = 200, vocab_size: int = 1000):
    """Rows like BERT's inputs: [CLS] words [SEP] words [SEP], then [PAD]s; ids 0-4 are special."""
    ids = torch.randint(5, vocab_size, (rows, seq), generator=gen)
    lengths = torch.randint(seq // 2, seq + 1, (rows,), generator=gen)
    for i, n in enumerate(lengths.tolist()):
        ids[i, 0] = 1                   # [CLS]
        ids[i, n // 2] = 2              # [SEP] between the segments
        ids[i, n - 1] = 2               # [SEP] at the end
        ids[i, n:] = 0                  # [PAD]
    return ids


_GLOBAL_SEEDS = iter(range(10**6, 2 * 10**6))


def _masking_outputs(fn: Callable, ids: Tensor, vocab_size: int, mask_id: int, special_ids: list[int],
                     mask_prob: float, seed: int) -> tuple[Tensor, Tensor]:
    before = ids.clone()
    # torch's global generator gets a new seed at every call (and its state is put back after):
    # an answer that draws from it instead of `generator` then gives different masks for the same
    # `generator` seed, and never happens to repeat the generator's numbers.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(next(_GLOBAL_SEEDS))
        result = _call(fn, ids, vocab_size, mask_id, special_ids, mask_prob, torch.Generator().manual_seed(seed),
                       shape_hint="every tensor you build should have input_ids' shape (batch, seq)")
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise AssertionError(f"return (masked_input_ids, labels), two tensors; got {type(result).__name__}")
    masked, labels = result
    expect_shape(masked, ids.shape, "masked_input_ids", hint="one id per input position")
    expect_shape(labels, ids.shape, "labels", hint="one label per input position (-100 where not chosen)")
    if masked.is_floating_point() or labels.is_floating_point():
        raise AssertionError("masked_input_ids and labels must hold integer ids (dtype torch.long), not floats: "
                             "build them from input_ids (clone, masked_fill, torch.where) rather than torch.rand")
    if not torch.equal(ids, before):
        raise AssertionError("mask_tokens changed input_ids in place: work on a copy (input_ids.clone()), the "
                             "caller still needs the original ids")
    return masked, labels


def check_mask_tokens(fn: Callable) -> None:
    """fn(input_ids (batch, seq), vocab_size, mask_id, special_ids, mask_prob=0.15, generator=None)
    -> (masked_input_ids, labels), as course_lib.bert.mask_tokens (checked statistically)."""
    vocab_size, mask_id, special_ids = 1000, 3, [0, 1, 2, 3, 4]
    ids = _masking_batch(_generator(7), vocab_size=vocab_size)
    special = torch.isin(ids, torch.tensor(special_ids))
    masked, labels = _masking_outputs(fn, ids, vocab_size, mask_id, special_ids, 0.15, seed=0)
    _report("returns two integer tensors of input_ids' shape and leaves input_ids unchanged")

    chosen = labels != -100
    ordinary = ~special
    share = chosen[ordinary].float().mean().item()
    if share > 0.9:
        raise AssertionError(f"{share:.0%} of the ordinary tokens have a label: the labels must be -100 at every "
                             "position that was NOT chosen, so that the loss only counts the ~15 % chosen ones "
                             "(the mask was applied to all tokens)")
    if 0.75 <= share <= 0.95 and torch.equal(labels[ordinary & chosen], ids[ordinary & chosen]):
        raise AssertionError(f"{share:.0%} of the ordinary tokens have a label: the labels are inverted. A label is "
                             "the original id at the ~15 % CHOSEN positions and -100 everywhere else "
                             "(input_ids.masked_fill(~chosen, -100), not masked_fill(chosen, -100))")
    if bool(chosen[special].any()):
        raise AssertionError(f"{int(chosen[special].sum())} special or padding positions were chosen ([CLS], [SEP], "
                             "[PAD] ...): never choose a position whose id is in special_ids "
                             "(torch.isin(input_ids, torch.tensor(special_ids)))")
    other_specials = special_ids + [7, 9]  # any ids can be special: read them from the argument
    _, other_labels = _masking_outputs(fn, ids, vocab_size, mask_id, other_specials, 0.5, seed=3)
    wrongly = (other_labels != -100) & torch.isin(ids, torch.tensor([7, 9]))
    if bool(wrongly.any()):
        raise AssertionError(f"with special_ids={other_specials}, {int(wrongly.sum())} positions holding 7 or 9 were "
                             "chosen: take the special ids from the special_ids argument "
                             "(torch.isin(input_ids, torch.tensor(special_ids))), not from a fixed range of ids")
    _report("special tokens and padding are never chosen")
    if not 0.14 <= share <= 0.16:
        raise AssertionError(f"{share:.1%} of the ordinary tokens were chosen, expected about 15 % (mask_prob): "
                             "choose each ordinary position independently with probability mask_prob")
    if not torch.equal(labels[chosen], ids[chosen]):
        changed = chosen & (masked != ids)
        hint = ("the labels hold the MASKED ids: the label of a chosen position is its ORIGINAL id (the word to "
                "predict), so take it from input_ids, not from the masked copy"
                if torch.equal(labels[changed], masked[changed]) else
                "the label of a chosen position must be its original id, input_ids at that position")
        raise AssertionError(hint)
    if not torch.equal(masked[~chosen], ids[~chosen]):
        raise AssertionError("positions that were not chosen (label -100) were changed: only chosen positions may "
                             "become [MASK] or a random word; use the same `chosen` mask for the labels and the inputs")
    _report("about 15 % of the ordinary tokens are chosen; labels are the original ids there and -100 elsewhere")

    n = int(chosen.sum())
    became_mask = (masked[chosen] == mask_id).float().mean().item()
    kept = (masked[chosen] == ids[chosen]).float().mean().item()
    replaced = 1.0 - became_mask - kept
    shares = f"[MASK] {became_mask:.1%}, random {replaced:.1%}, unchanged {kept:.1%}"
    if became_mask > 0.97:
        raise AssertionError(f"of the {n} chosen tokens: {shares}. Every chosen token became [MASK]: 10 % must "
                             "become a random word and 10 % stay unchanged (80/10/10), or the model never learns "
                             "good vectors for real words, which is all it sees when fine-tuning")
    if not (0.77 <= became_mask <= 0.83 and 0.08 <= replaced <= 0.12 and 0.08 <= kept <= 0.12):
        raise AssertionError(f"of the {n} chosen tokens: {shares}; expected 80 / 10 / 10. Draw one number per "
                             "chosen position: below 0.8 -> [MASK], 0.8-0.9 -> a random id, above 0.9 -> unchanged")
    _report("of the chosen tokens about 80 % became [MASK], 10 % a random word, 10 % stayed unchanged")
    randoms = masked[chosen & (masked != ids) & (masked != mask_id)]
    if bool((randoms < 0).any() or (randoms >= vocab_size).any()) or len(set(randoms.tolist())) < 100:
        raise AssertionError(f"the random replacements should be ids drawn uniformly from [0, vocab_size); got "
                             f"{len(set(randoms.tolist()))} distinct values between {int(randoms.min())} and "
                             f"{int(randoms.max())}: torch.randint(vocab_size, input_ids.shape, generator=generator)")
    _report("random replacements are spread over the vocabulary")

    again = _masking_outputs(fn, ids, vocab_size, mask_id, special_ids, 0.15, seed=0)
    if not (torch.equal(again[0], masked) and torch.equal(again[1], labels)):
        raise AssertionError("two calls with generators seeded alike gave different masks: draw every random "
                             "number from `generator` (torch.rand(..., generator=generator))")
    other = _masking_outputs(fn, ids, vocab_size, mask_id, special_ids, 0.15, seed=1)
    if torch.equal(other[1], labels):
        raise AssertionError("a differently seeded generator gave the same masks: draw from `generator`")
    _report("the same generator seed gives the same masks, another seed other masks")

    _, labels30 = _masking_outputs(fn, ids, vocab_size, mask_id, special_ids, 0.3, seed=2)
    share30 = (labels30 != -100)[ordinary].float().mean().item()
    if not 0.28 <= share30 <= 0.32:
        raise AssertionError(f"with mask_prob=0.3, {share30:.1%} of the ordinary tokens were chosen: use the "
                             "mask_prob argument, not a fixed 0.15")
    _report("mask_prob is respected (0.3 chooses about 30 %)")
    print("All masking checks passed.")


# --------------------------------------------------------------------------- exercise 2


def _head_variants(head: nn.Module, hidden: Tensor, attention_mask: Tensor | None, pooling: str) -> list:
    """Outputs of the usual mistakes, computed with the same weights (eval mode: no dropout)."""
    dense, classifier = head.dense, head.classifier
    mean_all = hidden.mean(1)
    if attention_mask is not None:
        w = attention_mask.to(hidden.dtype).unsqueeze(-1)
        mean_real = (hidden * w).sum(1) / w.sum(1)
    else:
        mean_real = mean_all
    summary = hidden[:, 0] if pooling == "cls" else mean_real
    logits = classifier(torch.tanh(dense(summary)))
    return [
        (classifier(torch.tanh(dense(hidden[:, -1]))),
         "the LAST position is read: [CLS] is the first token, hidden[:, 0]"),
        (classifier(torch.tanh(dense(mean_all))),
         "the mean includes the padding: weight each position by attention_mask and divide by the number of "
         "real tokens, attention_mask.sum(1)"),
        (classifier(dense(summary)), "no tanh: the pooled vector is tanh(dense(summary))"),
        (classifier(torch.relu(dense(summary))), "relu instead of tanh: the pooled vector is tanh(dense(summary))"),
        (classifier(summary), "the dense + tanh layer is skipped: logits = classifier(dropout(tanh(dense(summary))))"),
        (logits.softmax(-1), "these are probabilities (softmax): return the raw logits; the loss applies the "
                             "softmax itself (F.cross_entropy)"),
        (logits.log_softmax(-1), "these are log-probabilities: return the raw logits"),
    ]


def _reference_head(d_model: int, num_labels: int, dropout: float, pooling: str) -> nn.Module:
    """course_lib's head with weights far from 0 (so that every mistake shows), in float64."""
    from ..bert import ClassificationHead as Reference

    reference = Reference(d_model, num_labels, dropout, pooling)
    for p in reference.parameters():
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=_generator(p.numel())) * 0.5)
    return reference.double()


def _head_call(fn: Callable, head: nn.Module, hidden: Tensor, attention_mask: Tensor | None, pooling: str) -> Tensor:
    try:
        return _call(fn, hidden, attention_mask, head.dense, head.dropout, head.classifier, pooling,
                     shape_hint="hidden is (batch, seq, d_model): [CLS] is hidden[:, 0]; average over dim=1")
    except (AttributeError, TypeError) as err:
        if attention_mask is not None:
            raise
        raise AssertionError(f"with attention_mask=None your function raised {type(err).__name__}: {err}\n"
                             "Hint: None means every position is a real token: average over all of them") from err


def check_classification_head(fn: Callable) -> None:
    """fn(hidden (batch, seq, d_model), attention_mask (batch, seq) or None, dense, dropout, classifier,
    pooling="cls") -> logits (batch, num_labels), as course_lib.bert.ClassificationHead with those layers."""
    gen = _generator(72)
    B, T, D, L = 5, 7, 6, 3
    hidden = _randn(B, T, D, gen=gen)
    attention_mask = torch.ones(B, T, dtype=torch.long)
    for i, n in enumerate([7, 4, 5, 2, 6]):
        attention_mask[i, n:] = 0

    for pooling in ("cls", "mean"):
        reference = _reference_head(D, L, 0.5, pooling).eval()
        saved = hidden.clone()
        torch.manual_seed(8)
        out = _head_call(fn, reference, hidden, attention_mask, pooling)
        expect_shape(out, (B, L), f"the logits ({pooling} pooling)", hint="one score per label for each input: "
                     "pool over the sequence axis (dim=1), not the batch or feature axis")
        if not torch.equal(saved, hidden):
            raise AssertionError("the head changed its input hidden states in place: compute new tensors")
        with torch.no_grad():
            expected = reference(hidden, attention_mask)
            wrong = _head_variants(reference, hidden, attention_mask, pooling)
            summary = hidden[:, 0] if pooling == "cls" else None
            if summary is not None:
                torch.manual_seed(8)
                wrong.append((reference.classifier(F.dropout(torch.tanh(reference.dense(summary)), 0.5)),
                              "dropout acts in eval mode: call the dropout module, dropout(x), which knows "
                              "whether the model is training (F.dropout(x, p) drops in every mode)"))
        what = "the [CLS] vector" if pooling == "cls" else "the mean of the real tokens' vectors"
        _expect_close(out, expected, f"the output with pooling={pooling!r} (eval mode)",
                      "course_lib.bert.ClassificationHead with the same layers", atol=1e-10, wrong_answers=wrong,
                      hint=f"logits = classifier(dropout(tanh(dense({what}))))",
                      passed=f"pooling={pooling!r}: classifier(dropout(tanh(dense({what})))) with the layers given")

    # only [CLS] counts with pooling="cls"; padding never counts with "mean"
    reference = _reference_head(D, L, 0.5, "cls").eval()
    changed = hidden.clone()
    changed[:, 1:] += 1.0
    with torch.no_grad():
        if not torch.allclose(_head_call(fn, reference, changed, attention_mask, "cls"),
                              _head_call(fn, reference, hidden, attention_mask, "cls"), atol=1e-10):
            raise AssertionError("with pooling='cls' the logits change when other tokens change: read only the "
                                 "[CLS] position, hidden[:, 0]")
    _report("pooling='cls': only the [CLS] position is read")
    reference = _reference_head(D, L, 0.5, "mean").eval()
    changed = hidden.masked_fill((attention_mask == 0).unsqueeze(-1), 100.0)
    with torch.no_grad():
        if not torch.allclose(_head_call(fn, reference, changed, attention_mask, "mean"),
                              _head_call(fn, reference, hidden, attention_mask, "mean"), atol=1e-10):
            raise AssertionError("with pooling='mean' the logits change when padded positions change: average over "
                                 "the real tokens only (attention_mask == 1)")
        no_mask = _head_call(fn, reference, hidden, None, "mean")
        with_ones = _head_call(fn, reference, hidden, torch.ones(B, T, dtype=torch.long), "mean")
    _expect_close(no_mask, with_ones, "the output with attention_mask=None", "the output with a mask of ones",
                  atol=1e-10, hint="without a mask every position is real: average over all of them",
                  passed="attention_mask=None: the mean over all positions")
    _report("pooling='mean': padded positions are ignored")

    # training mode: dropout acts on the pooled vector, between tanh and the classifier
    for pooling in ("cls", "mean"):
        reference = _reference_head(D, L, 0.5, pooling).train()
        torch.manual_seed(7)
        out = _head_call(fn, reference, hidden, attention_mask, pooling)
        torch.manual_seed(7)
        expected = reference(hidden, attention_mask)
        if pooling == "cls":
            summary = hidden[:, 0]
        else:
            w = attention_mask.to(hidden.dtype).unsqueeze(-1)
            summary = (hidden * w).sum(1) / w.sum(1)
        with torch.no_grad():
            eval_out = reference.classifier(torch.tanh(reference.dense(summary)))
            torch.manual_seed(7)
            early = reference.classifier(torch.tanh(reference.dense(F.dropout(summary, 0.5))))
        wrong = [(eval_out, "in training mode the output has no dropout: apply the dropout layer to the pooled "
                            "vector (it is active in train mode and does nothing in eval mode)"),
                 (early, "dropout is applied before the dense layer: apply it to tanh(dense(summary)), just before "
                         "the classifier")]
        _expect_close(out, expected.detach(), f"the output in training mode (pooling={pooling!r})",
                      "the reference with the same dropout mask", atol=1e-10, wrong_answers=wrong,
                      hint="use dropout once, on the pooled vector, just before the classifier",
                      passed=f"training mode (pooling={pooling!r}): the same dropout mask gives the same logits")
        if out.grad_fn is None:
            raise AssertionError("no gradient flows through your logits: use torch operations only (no .detach(), "
                                 "no torch.no_grad())")
    _report("training mode: dropout acts on the pooled vector, before the classifier")
    print("All classification head checks passed.")


# --------------------------------------------------------------------------- exercise 3


def _tiny_classifier(dropout: float, pooling: str = "cls", seed: int = 0):
    from ..bert import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=40, max_position=16, n_layer=1, n_head=2, d_model=8, d_ff=16, dropout=dropout)
    return BertForSequenceClassification(config, 3, pooling).double()


def _pair_batch(gen: torch.Generator) -> dict[str, Tensor]:
    """Four sentence pairs of different lengths: segments 0 and 1, right-padded."""
    ids = torch.randint(5, 40, (4, 11), generator=gen)
    types = torch.zeros_like(ids)
    mask = torch.ones_like(ids)
    for i, (a, n) in enumerate([(4, 11), (3, 7), (2, 9), (3, 5)]):
        ids[i, 0], ids[i, a], ids[i, n - 1] = 1, 2, 2
        types[i, a + 1:n] = 1
        ids[i, n:], types[i, n:], mask[i, n:] = 0, 0, 0
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask,
            "labels": torch.tensor([0, 2, 1, 2])}


def _hand_step(model: nn.Module, batch: dict[str, Tensor], lr: float, seed: int, train: bool = True,
               attention: bool = True, types: bool = True) -> tuple[float, dict[str, Tensor]]:
    """The loss before one SGD step and the parameters after it, computed by hand on a copy."""
    model = copy.deepcopy(model).train(train)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    torch.manual_seed(seed)
    _, loss = model(batch["input_ids"], batch["token_type_ids"] if types else None,
                    batch["attention_mask"] if attention else None, labels=batch["labels"])
    grads = torch.autograd.grad(loss, [p for _, p in named])
    after = {n: p.detach() for n, p in model.named_parameters()}
    after.update({n: (p - lr * g).detach() for (n, p), g in zip(named, grads)})
    return loss.item(), after


def _params(model: nn.Module) -> dict[str, Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _same_params(a: dict[str, Tensor], b: dict[str, Tensor], atol: float = 1e-10) -> bool:
    return all(torch.allclose(a[n], b[n], atol=atol) for n in a)


def _run_step(fn: Callable, model, optimizer, batch, seed: int, **kwargs):
    torch.manual_seed(seed)
    loss = _call(fn, model, optimizer, batch, shape_hint="pass the batch's tensors to the model by name or in "
                 "the order input_ids, token_type_ids, attention_mask, labels=...", **kwargs)
    return loss


def check_fine_tune_step(fn: Callable) -> None:
    """fn(model, optimizer, batch, clip_norm=1.0) -> float loss: one optimisation step, as
    course_lib.bert.fine_tune_step (checked against steps computed by hand)."""
    from ..bert import fine_tune_step as reference

    gen = _generator(73)
    batch = _pair_batch(gen)
    lr = 0.5

    # one step, from a model left in eval mode (as evaluation leaves it)
    model = _tiny_classifier(dropout=0.1).eval()
    initial = _params(model)
    expected_loss, expected_params = _hand_step(model, batch, lr, seed=1)
    eval_loss, _ = _hand_step(model, batch, lr, seed=1, train=False)   # the usual mistakes' losses
    no_mask_loss, _ = _hand_step(model, batch, lr, seed=1, attention=False)
    no_types_loss, _ = _hand_step(model, batch, lr, seed=1, types=False)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss = _run_step(fn, model, optimizer, batch, seed=1, clip_norm=None)
    if isinstance(loss, Tensor):
        raise AssertionError("the step returned a tensor: return the loss as a Python float, loss.item() (a tensor "
                             "would keep the whole graph of the step alive)")
    if not isinstance(loss, float):
        raise AssertionError(f"return the loss as a Python float (loss.item()), got {type(loss).__name__}")
    model_now = _params(model)
    _expect_close(loss, expected_loss, "the returned loss", "the loss of a forward pass in training mode", atol=1e-9,
                  wrong_answers=[
                      (eval_loss, "the model ran in eval mode (no dropout): call model.train() first; evaluation "
                                  "may have left the model in eval mode"),
                      (no_mask_loss, "the attention_mask was not passed: without it the real tokens attend to the "
                                     "padding, model(input_ids, token_type_ids, attention_mask, labels=labels)"),
                      (no_types_loss, "the token_type_ids were not passed: the second segment is read as the first"),
                  ],
                  hint="return the loss of model(input_ids, token_type_ids, attention_mask, labels=labels), "
                       "computed before the optimizer step",
                  passed="returns the loss (a Python float) of the forward pass in training mode, with the "
                         "attention mask and segments")
    if _same_params(model_now, initial):
        raise AssertionError("the parameters did not change: call optimizer.step() after loss.backward(), and "
                             "optimizer.zero_grad() before loss.backward() (zeroing between backward and step "
                             "wipes the gradients the step needs)")
    if not _same_params(model_now, expected_params):
        raise AssertionError("after one step the parameters differ from p - lr * grad computed by hand: zero the "
                             "gradients, call loss.backward() once, then optimizer.step()")
    _report("one step moves the parameters exactly as SGD's p - lr * grad, computed by hand")

    # a second step: the gradients of the first must be gone
    expected_loss2, expected_params2 = _hand_step(model, batch, lr, seed=2)
    loss2 = _run_step(fn, model, optimizer, batch, seed=2, clip_norm=None)
    _expect_close(loss2, expected_loss2, "the loss of the second step", "a forward pass with the updated weights",
                  atol=1e-9, passed="the second call returns the loss of the updated model")
    if not _same_params(_params(model), expected_params2):
        raise AssertionError("the second step differs from a step computed by hand: the gradients of the first step "
                             "were added to the second ones. Call optimizer.zero_grad() before loss.backward()")
    _report("two calls equal two steps computed by hand (the gradients are zeroed in between)")

    # frozen parameters stay; padding changes nothing
    model = _tiny_classifier(dropout=0.0)
    model.bert.embeddings.requires_grad_(False)
    frozen = {n: p.detach().clone() for n, p in model.bert.embeddings.named_parameters()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    padded_model = copy.deepcopy(model)
    padded_optimizer = torch.optim.SGD([p for p in padded_model.parameters() if p.requires_grad], lr=lr)
    loss = _run_step(fn, model, optimizer, batch, seed=3, clip_norm=None)
    padded = {k: v if k == "labels" else F.pad(v, (0, 4)) for k, v in batch.items()}  # 4 more [PAD] columns
    padded_loss = _run_step(fn, padded_model, padded_optimizer, padded, seed=3, clip_norm=None)
    if not all(torch.equal(p, frozen[n]) for n, p in model.bert.embeddings.named_parameters()):
        raise AssertionError("frozen parameters (requires_grad=False) changed: update only through the optimizer "
                             "you were given")
    _expect_close(padded_loss, loss, "the loss with 4 more padding columns", "the loss without them", atol=1e-9,
                  hint="padding must not change anything: pass batch['attention_mask'] to the model")
    if not _same_params(_params(padded_model), _params(model), atol=1e-9):
        raise AssertionError("4 more padding columns changed the step: pass batch['attention_mask'] to the model")
    _report("frozen parameters stay as they are, and extra padding changes nothing")

    # gradient clipping, and the default clip_norm=1.0
    for clip in (0.05, 1.0):
        model = _tiny_classifier(dropout=0.1, pooling="mean", seed=4)
        twin = copy.deepcopy(model)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        twin_optimizer = torch.optim.SGD(twin.parameters(), lr=lr)
        kwargs = {"clip_norm": clip} if clip != 1.0 else {}
        torch.manual_seed(5)
        reference(twin, twin_optimizer, batch, clip_norm=clip)
        _, unclipped = _hand_step(model, batch, lr, seed=5)
        _run_step(fn, model, optimizer, batch, seed=5, **kwargs)
        if not _same_params(_params(model), _params(twin)):
            if _same_params(_params(model), unclipped):
                where = f"clip_norm={clip}" if kwargs else "the default clip_norm=1.0"
                raise AssertionError(f"with {where} the gradients were not clipped to norm {clip}: call "
                                     "torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm) with the "
                                     "clip_norm argument (not a fixed number) after loss.backward() and before "
                                     "optimizer.step() (unless clip_norm is None)")
            raise AssertionError(f"with clip_norm={clip} the step differs from course_lib.bert.fine_tune_step: clip "
                                 "the total gradient norm after loss.backward(), before optimizer.step()")
    _report("the gradient norm is clipped to clip_norm (default 1.0) before the step")

    # with Adam, as in the notebook: equal to the library's step
    model = _tiny_classifier(dropout=0.1, seed=6).float()
    twin = copy.deepcopy(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    twin_optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-3)
    batch32 = dict(batch)
    for step in range(3):
        torch.manual_seed(10 + step)
        expected = reference(twin, twin_optimizer, batch32)
        got = _run_step(fn, model, optimizer, batch32, seed=10 + step)
        _expect_close(got, expected, f"the loss of AdamW step {step + 1}", "course_lib.bert.fine_tune_step",
                      atol=1e-5, passed=f"AdamW step {step + 1}: the loss of course_lib.bert.fine_tune_step")
    if not _same_params(_params(model), _params(twin), atol=1e-5):
        raise AssertionError("after three AdamW steps the weights differ from course_lib.bert.fine_tune_step's")
    _report("three AdamW steps equal course_lib.bert.fine_tune_step's")
    print("All fine-tuning step checks passed.")
