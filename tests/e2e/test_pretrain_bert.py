"""The shipped BERT checkpoint (checkpoints/bert.*) is what `course pretrain bert` makes.

Fast: the shipped files load, are small, and reach their stated held-out
masked-LM numbers. Slow: the first 20 steps re-created from the seed give the shipped losses,
and the whole recipe re-run (about two minutes at one thread, and only when the
recipe's sources changed: tests/e2e/test_pretrain.py's rerun_unless_recorded) gives a model
with the shipped held-out numbers that predicts the same masked words. Loading refusals are tested in tests/unit/test_bert.py.
(Its own file so that pytest-xdist can run it beside the GPT's re-run.)
"""
import dataclasses
import json

import pytest
import torch
from test_pretrain import FINGERPRINT_RTOL, HELD_OUT_RTOL, MEAN_LOGPROB_CHANGE, rerun_unless_recorded

from course_lib import cli
from course_lib.bert import mask_tokens, pretraining_data, trim_padding
from course_lib.pretrain import BERT_MODEL, BERT_RECIPE, CHECKPOINTS, _mlm_eval, deterministic, load_bert, pretrain_bert

# What the shipped BERT must reach on held-out documents (measured: loss 1.09, accuracy 0.70).
BERT_TARGET = {"val_mlm_loss": 1.2, "val_mlm_acc": 0.65}


@pytest.fixture(scope="module")
def shipped_bert():
    return json.loads((CHECKPOINTS / "bert.json").read_text())


def test_shipped_bert_is_small_consistent_and_reaches_its_numbers(shipped_bert):
    sizes = {p.name: p.stat().st_size for p in CHECKPOINTS.glob("bert*")}
    assert set(sizes) == {"bert.safetensors", "bert_tokenizer.json", "bert.json"}
    assert sum(sizes.values()) < 3e6, f"checkpoints should stay small: {sizes}"
    model = load_bert()
    assert not model.training
    config = dataclasses.asdict(model.config)
    assert {k: config[k] for k in BERT_MODEL} == BERT_MODEL, \
        "BERT_MODEL changed since the checkpoint was made: run `course pretrain bert`"
    assert shipped_bert["recipe"] == BERT_RECIPE, "BERT_RECIPE changed: run `course pretrain bert`"
    # the shipped vocabulary is the one the recipe builds; the held-out numbers are re-measured
    tokenizer, data = pretraining_data(shipped_bert["seed"], BERT_MODEL["max_position"])
    assert model.tokenizer == tokenizer
    scores = _mlm_eval(model, data["val"], tokenizer)
    for name in BERT_TARGET:
        assert scores[name] == pytest.approx(shipped_bert[name], rel=1e-5), name
    assert scores["val_mlm_loss"] < BERT_TARGET["val_mlm_loss"]
    assert scores["val_mlm_acc"] > BERT_TARGET["val_mlm_acc"]


def test_bert_first_steps_reproduce_the_shipped_fingerprint(shipped_bert):
    """As for the GPT: the first 20 steps of the recipe, re-run from the seed, give the shipped losses."""
    fingerprint = shipped_bert["fingerprint_losses"]
    with deterministic(shipped_bert["seed"]):
        _, metrics = pretrain_bert(seed=shipped_bert["seed"], stop_after=len(fingerprint), progress=False)
    assert metrics["fingerprint_losses"] == pytest.approx(fingerprint, rel=FINGERPRINT_RTOL)
    assert fingerprint[-1] < fingerprint[0] - 0.5, "the fingerprint should show learning"


def masked_logprob_change(a, b, data: dict, tokenizer) -> float:
    """Mean |log p_a - log p_b| of the true word at masked held-out positions (the same masks for both)."""
    batch = trim_padding({k: v[:128] for k, v in data.items()})
    special = (batch["attention_mask"] == 0) | (batch["input_ids"] == tokenizer.cls_id) \
        | (batch["input_ids"] == tokenizer.sep_id)
    masked, labels = mask_tokens(batch["input_ids"], tokenizer.vocab_size, tokenizer.mask_id, special,
                                 generator=torch.Generator().manual_seed(0))
    where = labels != -100
    with torch.no_grad():
        out = [torch.log_softmax(m(masked, batch["token_type_ids"], batch["attention_mask"]), -1)
               for m in (a, b)]
    picked = [o[where].gather(-1, labels[where][:, None]) for o in out]
    return (picked[0] - picked[1]).abs().mean().item()


def test_bert_full_rerun_reproduces_the_shipped_checkpoint(tmp_path, shipped_bert):
    """`course pretrain bert` again, from scratch (about two minutes): a model as good as the shipped one,
    predicting the same masked words (see the GPT's test for why weights are not compared one by one)."""
    rerun_unless_recorded("bert", shipped_bert)
    assert cli.main(["pretrain", "bert", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "bert_tokenizer.json").read_bytes() == (CHECKPOINTS / "bert_tokenizer.json").read_bytes()
    metrics = json.loads((tmp_path / "bert.json").read_text())
    assert metrics["val_mlm_loss"] == pytest.approx(shipped_bert["val_mlm_loss"], rel=HELD_OUT_RTOL)
    assert metrics["val_mlm_acc"] == pytest.approx(shipped_bert["val_mlm_acc"], abs=0.01)
    assert metrics["fingerprint_losses"] == pytest.approx(shipped_bert["fingerprint_losses"], rel=FINGERPRINT_RTOL)
    ours, theirs = load_bert(tmp_path), load_bert()
    tokenizer, data = pretraining_data(shipped_bert["seed"], BERT_MODEL["max_position"])
    change = masked_logprob_change(ours, theirs, data["val"], tokenizer)
    assert change < MEAN_LOGPROB_CHANGE, f"the re-run predicts masked words differently: {change:.3g} nats"
