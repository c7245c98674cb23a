"""course_lib.bert: embeddings, masks as properties, tied MLM head, mask_tokens statistics, fine-tuning pieces."""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from course_lib.bert import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
    BertTokenizer,
    ClassificationHead,
    classification_batch,
    evaluate_classifier,
    fill_mask,
    fine_tune_classifier,
    fine_tune_step,
    mask_tokens,
    pretraining_data,
)
from course_lib.data.labelled import generate_opinion_stories, labelled_splits
from course_lib.pretrain import Pretrained, load_bert, pretrain_bert, save_pretrained

DT = torch.float64


def small_config(**kw) -> BertConfig:
    return BertConfig(**{**dict(vocab_size=40, max_position=16, n_layer=2, n_head=2, d_model=16, d_ff=32,
                                dropout=0.0), **kw})


def model_of(cls=BertForMaskedLM, seed=0, *args, **kw):
    torch.manual_seed(seed)
    return cls(small_config(**kw), *args).to(DT).eval()


def ids_of(batch=3, seq=8, vocab=40, seed=1):
    return torch.randint(5, vocab, (batch, seq), generator=torch.Generator().manual_seed(seed))


# --------------------------------------------------------------------------- config and tokenizer


def test_config_checks_its_sizes():
    with pytest.raises(ValueError, match="divisible"):
        BertConfig(vocab_size=10, d_model=10, n_head=4)
    with pytest.raises(ValueError, match="n_layer"):
        BertConfig(vocab_size=10, n_layer=0)
    assert BertConfig(vocab_size=10).layer_norm_eps == 1e-12


def test_tokenizer_specials_pairs_and_padding():
    tok = BertTokenizer.build(["The cat sat.", "Anna didn't see the cat!"])
    assert tok.itos[:5] == ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"]
    assert (tok.pad_id, tok.cls_id, tok.sep_id, tok.mask_id, tok.unk_id) == (0, 1, 2, 3, 4)
    assert tok.tokenize("Anna didn't go.") == ["anna", "didn", "'t", "go", "."]
    ids, types = tok.encode("the cat", "sat dog")
    assert tok.decode(ids) == "[CLS] the cat [SEP] sat [UNK] [SEP]"
    assert types == [0, 0, 0, 0, 1, 1, 1]
    batch = tok.batch(["the cat sat .", "cat"])
    assert batch["input_ids"].shape == (2, 6)
    assert batch["attention_mask"].tolist() == [[1] * 6, [1, 1, 1, 0, 0, 0]]
    assert batch["input_ids"][1, 3:].tolist() == [tok.pad_id] * 3
    assert tok.decode(batch["input_ids"][1], skip_special=True) == "cat"


# --------------------------------------------------------------------------- the encoder


def test_embeddings_are_layernorm_of_the_sum():
    model = model_of(BertModel)
    emb = model.embeddings
    ids = ids_of()
    types = torch.zeros_like(ids)
    types[:, 4:] = 1
    x = emb.word_embeddings.weight[ids] + emb.position_embeddings.weight[:8] + emb.token_type_embeddings.weight[types]
    expected = F.layer_norm(x, (16,), emb.norm.weight, emb.norm.bias, eps=1e-12)
    torch.testing.assert_close(emb(ids, types), expected)
    torch.testing.assert_close(emb(ids), emb(ids, torch.zeros_like(ids)))  # default: all segment 0
    with pytest.raises(ValueError, match="max_position=16"):
        emb(ids_of(seq=17))


def test_padding_is_invisible_and_attention_is_bidirectional():
    model = model_of(BertModel)
    ids = ids_of()
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    out = model(ids, attention_mask=mask)
    assert out.shape == (3, 8, 16)
    other = ids.clone()
    other[1, 5:] = 7  # change only padded tokens
    torch.testing.assert_close(model(other, attention_mask=mask)[1, :5], out[1, :5])
    torch.testing.assert_close(model(ids), model(ids, attention_mask=torch.ones_like(ids)))
    # A later token changes the vectors of earlier ones: no causal mask in BERT.
    later = ids.clone()
    later[0, -1] = 5 if ids[0, -1] != 5 else 6
    assert not torch.allclose(model(later)[0, 0], model(ids)[0, 0])
    # Segment ids matter.
    assert not torch.allclose(model(ids, torch.ones_like(ids)), model(ids))


def test_bad_inputs_get_clear_errors():
    model = model_of(BertModel)
    with pytest.raises(ValueError, match=r"\(batch, seq\)"):
        model(torch.randn(2, 3))
    with pytest.raises(ValueError, match="attention_mask must have the shape"):
        model(ids_of(), attention_mask=torch.ones(3, 7, dtype=torch.long))


# --------------------------------------------------------------------------- masked LM


def test_mlm_head_is_tied_and_computed_as_bert():
    model = model_of()
    head = model.mlm_head
    assert head.decoder.weight is model.bert.embeddings.word_embeddings.weight
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == sum(p.numel() for n, p in model.named_parameters())  # counted once
    with torch.no_grad():
        head.decoder.bias.normal_()
    ids = ids_of()
    hidden = model.bert(ids)
    h = F.layer_norm(F.gelu(hidden @ head.dense.weight.T + head.dense.bias), (16,), head.norm.weight,
                     head.norm.bias, eps=1e-12)
    expected = h @ model.bert.embeddings.word_embeddings.weight.T + head.decoder.bias
    torch.testing.assert_close(model(ids), expected)


def test_mlm_loss_ignores_minus_100():
    model = model_of()
    ids = ids_of()
    labels = torch.full_like(ids, -100)
    labels[0, 1], labels[2, 5] = 9, 17
    logits, loss = model(ids, labels=labels)
    torch.testing.assert_close(loss, F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100))
    _, none = model(ids, labels=torch.full_like(ids, -100))
    assert none.item() == 0.0  # not NaN when nothing is masked
    none.backward()
    with pytest.raises(ValueError, match="labels must have the shape"):
        model(ids, labels=labels[:, :3])


def test_fill_mask_reads_the_first_mask():
    tok = BertTokenizer.build(["anna smiled frowned the soup was good"])
    torch.manual_seed(0)
    model = BertForMaskedLM(small_config(vocab_size=len(tok))).to(DT).eval()
    model.tokenizer = tok
    assert tok.tokenize("anna [MASK] .")[1] == "[MASK]"
    scores = fill_mask(model, ["the soup was good", "the [MASK] was good"], ["anna [MASK] .", "anna [MASK] ."],
                       ["smiled", "frowned"])
    assert scores.shape == (2, 2)
    batch = tok.batch(["the soup was good", "the [MASK] was good"], ["anna [MASK] .", "anna [MASK] ."])
    logits = model(**batch).log_softmax(-1)
    first = [7, 2]  # [CLS] the soup was good [SEP] anna [MASK]  /  [CLS] the [MASK]
    expected = torch.stack([logits[i, p, [tok.stoi["smiled"], tok.stoi["frowned"]]] for i, p in enumerate(first)])
    torch.testing.assert_close(scores, expected)
    assert fill_mask(model, ["the [MASK] was good"]).shape == (1, len(tok))
    with pytest.raises(ValueError, match="no \\[MASK\\]"):
        fill_mask(model, ["the soup was good"])
    with pytest.raises(ValueError, match="not in the vocabulary"):
        fill_mask(model, ["the [MASK]"], candidates=["zebra"])


SPECIAL = (0, 1, 2)


def test_mask_tokens_statistics():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (200, 100), generator=g)
    ids[:, 0], ids[:, -1], ids[:50, 60:] = 1, 2, 0  # [CLS], [SEP], padding
    original = ids.clone()
    masked, labels = mask_tokens(ids, vocab_size=1000, mask_id=3, special=SPECIAL, generator=g)
    assert torch.equal(ids, original), "mask_tokens must not modify its input"
    chosen = labels != -100
    special = torch.isin(ids, torch.tensor(SPECIAL))
    assert not chosen[special].any(), "special tokens must never be chosen"
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(masked[~chosen], ids[~chosen]), "positions not chosen must stay as they are"
    rate = chosen.sum() / (~special).sum()
    assert 0.14 < rate < 0.16
    n = chosen.sum()
    to_mask = (masked[chosen] == 3).sum() / n
    unchanged = (masked[chosen] == ids[chosen]).sum() / n
    assert 0.77 < to_mask < 0.83
    assert 0.085 < unchanged < 0.115  # 10 % kept, plus ~0.1 % random draws of the same token
    assert 0.085 < 1 - to_mask - unchanged < 0.115
    # Deterministic with a seeded generator; a boolean special mask works the same.
    a = mask_tokens(ids, 1000, 3, SPECIAL, generator=torch.Generator().manual_seed(5))
    b = mask_tokens(ids, 1000, 3, special, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_mask_tokens_bad_input():
    with pytest.raises(ValueError, match="mask_prob"):
        mask_tokens(ids_of(), 40, 3, mask_prob=1.5)
    with pytest.raises(ValueError, match="shape"):
        mask_tokens(ids_of(), 40, 3, special=torch.zeros(2, 2, dtype=torch.bool))


# --------------------------------------------------------------------------- classification


def test_classification_head_reads_only_cls():
    torch.manual_seed(0)
    head = ClassificationHead(16, 3, dropout=0.5).to(DT).eval()
    hidden = torch.randn(4, 6, 16, dtype=DT)
    logits = head(hidden)
    expected = torch.tanh(hidden[:, 0] @ head.dense.weight.T + head.dense.bias) @ head.classifier.weight.T + head.classifier.bias
    torch.testing.assert_close(logits, expected)
    changed = hidden.clone()
    changed[:, 1:] = 0
    torch.testing.assert_close(head(changed), logits)


def test_mean_pooling_averages_real_tokens_only():
    torch.manual_seed(0)
    head = ClassificationHead(16, 2, pooling="mean").to(DT).eval()
    hidden = torch.randn(2, 5, 16, dtype=DT)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    mean = torch.stack([hidden[0].mean(0), hidden[1, :2].mean(0)])
    expected = torch.tanh(mean @ head.dense.weight.T + head.dense.bias) @ head.classifier.weight.T + head.classifier.bias
    torch.testing.assert_close(head(hidden, mask), expected)
    with pytest.raises(ValueError, match="pooling"):
        ClassificationHead(16, 2, pooling="max")


def test_classifier_from_pretrained_copies_the_encoder():
    mlm = model_of()
    clf = BertForSequenceClassification.from_pretrained(mlm, num_labels=2).to(DT).eval()
    ids = ids_of()
    torch.testing.assert_close(clf.bert(ids), mlm.bert(ids))
    with torch.no_grad():
        clf.bert.embeddings.word_embeddings.weight.normal_()  # (a constant shift would vanish in the LayerNorm)
    assert not torch.allclose(clf.bert(ids), mlm.bert(ids)), "the classifier must own a copy, not share"
    labels = torch.tensor([0, 1, 1])
    logits, loss = clf(ids, labels=labels)
    assert logits.shape == (3, 2)
    torch.testing.assert_close(loss, F.cross_entropy(logits, labels))
    with pytest.raises(ValueError, match="num_labels"):
        BertForSequenceClassification(small_config(), 1)
    assert BertForSequenceClassification.from_pretrained(mlm, 2, dropout=0.3).config.dropout == 0.3
    assert mlm.config.dropout == 0.0


def _tiny_task():
    examples = [("good good", 1), ("bad bad", 0), ("good", 1), ("bad", 0)] * 4
    tok = BertTokenizer.build(["good bad"])
    return tok, examples


def test_fine_tune_step_lowers_the_loss_and_leaves_frozen_weights():
    tok, examples = _tiny_task()
    torch.manual_seed(0)
    model = BertForSequenceClassification(small_config(vocab_size=len(tok)), 2)
    for p in model.bert.embeddings.parameters():
        p.requires_grad_(False)
    frozen = model.bert.embeddings.word_embeddings.weight.clone()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    batch = classification_batch(tok, examples)
    losses = [fine_tune_step(model, optimizer, batch) for _ in range(30)]
    assert isinstance(losses[0], float)
    assert losses[-1] < 0.5 * losses[0]
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, frozen)


def test_fine_tune_classifier_and_evaluate():
    tok, examples = _tiny_task()
    torch.manual_seed(0)
    model = BertForSequenceClassification(small_config(vocab_size=len(tok)), 2)
    assert evaluate_classifier(model, tok, examples) in (0.0, 0.25, 0.5, 0.75, 1.0)
    history = fine_tune_classifier(model, tok, examples, examples, steps=60, batch_size=8, lr=3e-3, progress=False)
    assert history["val_acc"][-1] == 1.0
    assert model.training  # evaluate_classifier restored the mode fit() left
    with pytest.raises(ValueError, match="no trainable parameters"):
        for p in model.parameters():
            p.requires_grad_(False)
        fine_tune_classifier(model, tok, examples, steps=1, progress=False)


# --------------------------------------------------------------------------- pretraining and checkpoints


def test_save_and_load_round_trip(tmp_path):
    tok = BertTokenizer.build(["a b c d e f g"])
    torch.manual_seed(0)
    model = BertForMaskedLM(small_config(vocab_size=len(tok))).eval()
    save_pretrained("bert", Pretrained(model=model, metrics={}, tokenizer=tok), tmp_path)
    loaded = load_bert(tmp_path)
    assert loaded.tokenizer == tok and loaded.config == model.config
    ids = torch.tensor([[1, 5, 6, 2]])
    torch.testing.assert_close(loaded(ids), model(ids))
    assert loaded.mlm_head.decoder.weight is loaded.bert.embeddings.word_embeddings.weight
    # a tokenizer from another run, a file that is not a tokenizer, another config: refused
    BertTokenizer.build(["a b"]).save(tmp_path / "bert_tokenizer.json")
    with pytest.raises(ValueError, match="different runs"):
        load_bert(tmp_path)
    (tmp_path / "bert_tokenizer.json").write_text('{"merges": []}')
    with pytest.raises(ValueError, match="not written by BertTokenizer.save"):
        load_bert(tmp_path)
    tok.save(tmp_path / "bert_tokenizer.json")
    with pytest.raises(ValueError, match="different config: n_layer"):
        load_bert(tmp_path, config=dataclasses.replace(model.config, n_layer=model.config.n_layer + 1))
    with pytest.raises(FileNotFoundError, match="course pretrain bert"):
        load_bert(tmp_path / "nowhere")


def test_pretraining_data_pairs_and_no_test_leak():
    tok, data = pretraining_data(seed=0)
    train = data["train"]
    ids, types, mask = train["input_ids"], train["token_type_ids"], train["attention_mask"]
    assert (ids[:, 0] == tok.cls_id).all()
    lengths = mask.sum(1)
    assert (ids[torch.arange(len(ids)), lengths - 1] == tok.sep_id).all()
    assert ((ids == tok.sep_id).sum(1) == 2).all(), "every row is a pair: [CLS] A [SEP] B [SEP]"
    # segment ids: 0 ... 0 1 ... 1 then padding (0)
    assert (types.diff(dim=1)[mask[:, 1:].bool()] >= 0).all()
    assert (ids == tok.unk_id).sum() == 0
    # No held-out labelled sentence is in the pretraining text (as a whole sentence:
    # "the soup was good ." may well end a longer one).
    sentences = set()
    for row in torch.cat([ids, data["val"]["input_ids"]]):
        for part in tok.decode(row, skip_special=True).split(" ."):
            sentences.add(part.strip().split(' " ')[-1] + " .")
    splits = labelled_splits()
    first_visit = generate_opinion_stories(1, seed=1).split("\n")[1]  # pretraining_data uses seed + 1
    assert first_visit.split(" . ")[0] + " ." in sentences, "the check must be able to find sentences"
    leaked = [ex.text for ex in splits["val"] + splits["test"] if ex.text in sentences]
    assert not leaked, f"held-out sentences in the pretraining text: {leaked[:3]}"


def test_pretrain_bert_short_run_is_deterministic():
    model_a, metrics = pretrain_bert(seed=0, steps=2, progress=False)
    model_b, _ = pretrain_bert(seed=0, steps=2, progress=False)
    assert {"val_mlm_loss", "val_mlm_acc", "train_loss", "steps", "seconds", "history"} <= set(metrics)
    assert 0.0 <= metrics["val_mlm_acc"] <= 1.0 and metrics["steps"] == 2
    assert not model_a.training and model_a.tokenizer.vocab_size == model_a.config.vocab_size
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs between two runs with the same seed"


def test_warmup_linear_decay_rises_then_falls_to_zero():
    from course_lib.bert import warmup_linear_decay

    factor = warmup_linear_decay(100, warmup=0.1)
    values = [factor(i) for i in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(values[:9], values[1:10])) and all(a > b for a, b in zip(values[10:], values[11:]))
    assert values[99] == pytest.approx(1 / 90) and factor(100) == 0.0
    assert warmup_linear_decay(5, warmup=0.1)(0) == 1.0, "at least one warm-up step"


def test_predict_labels_are_the_argmax_and_give_evaluate_classifiers_accuracy():
    from course_lib.bert import predict_labels

    tok = BertTokenizer.build(["good bad not the soup was ."])
    model = BertForSequenceClassification(small_config(vocab_size=len(tok)), num_labels=2).eval()
    examples = [("the soup was good .", 1), ("the soup was not good .", 0), ("bad", 0)]
    batch = tok.batch([t for t, _ in examples])
    expected = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]).argmax(-1)
    assert torch.equal(predict_labels(model, tok, examples, batch_size=2), expected)
    assert torch.equal(predict_labels(model, tok, [t for t, _ in examples]), expected)
    assert evaluate_classifier(model, tok, examples) == pytest.approx((expected == torch.tensor([1, 0, 0])).float().mean().item())


def test_zero_shot_positive_compares_summed_probabilities():
    from course_lib.bert import zero_shot_positive

    tok = BertTokenizer.build(["the soup was good . anna smiled laughed frowned sighed ."])
    model = model_of(vocab_size=len(tok)).float()
    texts = ["the soup was good .", "the soup was ."]
    log_probs = fill_mask(model, texts, ["anna [MASK] ."] * 2, ["smiled", "laughed", "frowned", "sighed"], tok)
    expected = log_probs[:, :2].exp().sum(-1) > log_probs[:, 2:].exp().sum(-1)
    assert torch.equal(zero_shot_positive(model, texts, tokenizer=tok), expected)
    # swapping the word lists flips every answer
    assert torch.equal(zero_shot_positive(model, texts, positive=("frowned", "sighed"),
                                          negative=("smiled", "laughed"), tokenizer=tok), ~expected)


def test_what_moved_out_of_bert_stays_importable_from_it():
    """The tokenizer, the pretraining text and the fine-tuning helpers live in their own modules; chapters 7
    and 8 import them from course_lib.bert."""
    from course_lib import bert, classification
    from course_lib.data import sentence_pairs, word_tokenizer

    moved = {classification: classification.__all__,
             sentence_pairs: sentence_pairs.__all__,
             word_tokenizer: ["PAD", "CLS", "SEP", "MASK", "UNK", "SPECIAL_TOKENS", "BertTokenizer", "trim_padding"]}
    for module, names in moved.items():
        for name in names:
            assert getattr(bert, name) is getattr(module, name), f"course_lib.bert.{name}"
