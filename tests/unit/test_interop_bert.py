"""bert_from_hf: our BertForMaskedLM computes HuggingFace's logits (small random models, no download)."""
from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from course_lib.bert import BertForMaskedLM  # noqa: E402
from course_lib.interop import bert_from_hf  # noqa: E402


def hf_bert(dtype=torch.float32, hidden_act="gelu", seed=0, **overrides):
    config = transformers.BertConfig(
        vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
        max_position_embeddings=20, type_vocab_size=2, hidden_act=hidden_act, layer_norm_eps=1e-12, **overrides,
    )
    torch.manual_seed(seed)
    model = transformers.BertForMaskedLM(config)
    # HuggingFace initialises biases to 0 and LayerNorms to 1/0: random values
    # make every copied tensor count (a forgotten one would go unnoticed otherwise).
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model.to(dtype).eval()


def inputs(batch=3, seq=9, vocab=50, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (batch, seq), generator=g)
    types = torch.zeros(batch, seq, dtype=torch.long)
    types[:, 5:] = 1  # a sentence pair: segment B from position 5
    lengths = torch.tensor([seq, 6, 3])[:batch]
    attention_mask = (torch.arange(seq)[None, :] < lengths[:, None]).long()
    ids = ids.masked_fill(attention_mask == 0, 0)
    return ids, types, attention_mask


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-4), (torch.float64, 1e-10)])
def test_same_logits_with_padding_and_segments(dtype, tol):
    theirs = hf_bert(dtype)
    ours = bert_from_hf(theirs)
    assert isinstance(ours, BertForMaskedLM) and not ours.training
    assert ours.bert.embeddings.word_embeddings.weight.dtype == dtype
    ids, types, attention_mask = inputs()
    with torch.no_grad():
        expected = theirs(input_ids=ids, token_type_ids=types, attention_mask=attention_mask).logits
        got = ours(ids, token_type_ids=types, attention_mask=attention_mask)
    real = attention_mask.bool()
    torch.testing.assert_close(got[real], expected[real], atol=tol, rtol=tol)
    # The test has teeth: the segment ids and the padding mask change the logits.
    with torch.no_grad():
        assert not torch.allclose(ours(ids, attention_mask=attention_mask)[real], got[real], atol=1e-3)
        assert not torch.allclose(ours(ids, token_type_ids=types)[real], got[real], atol=1e-3)


def test_defaults_match_hf_defaults():
    """No token_type_ids and no mask: all segment 0, every token real, in both libraries."""
    theirs = hf_bert(torch.float64)
    ours = bert_from_hf(theirs)
    ids, _, _ = inputs()
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), theirs(input_ids=ids).logits, atol=1e-10, rtol=1e-10)


def test_loss_matches_hf():
    theirs = hf_bert(torch.float64)
    ours = bert_from_hf(theirs)
    ids, types, attention_mask = inputs()
    labels = torch.full_like(ids, -100)
    labels[0, 2], labels[1, 4], labels[2, 1] = 7, 11, 13
    with torch.no_grad():
        expected = theirs(input_ids=ids, token_type_ids=types, attention_mask=attention_mask, labels=labels).loss
        _, loss = ours(ids, types, attention_mask, labels=labels)
    torch.testing.assert_close(loss, expected, atol=1e-10, rtol=1e-10)


def test_tanh_gelu_and_tied_output():
    theirs = hf_bert(torch.float64, hidden_act="gelu_new")
    ours = bert_from_hf(theirs)
    assert ours.mlm_head.decoder.weight is ours.bert.embeddings.word_embeddings.weight
    ids, types, attention_mask = inputs()
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, types, attention_mask)[attention_mask.bool()],
                                   theirs(input_ids=ids, token_type_ids=types,
                                          attention_mask=attention_mask).logits[attention_mask.bool()],
                                   atol=1e-10, rtol=1e-10)


def test_gradients_match_in_training_mode_without_dropout():
    theirs = hf_bert(torch.float64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
    ours = bert_from_hf(theirs)
    assert ours.training
    ids, types, attention_mask = inputs()
    ours(ids, types, attention_mask).sum().backward()
    theirs(input_ids=ids, token_type_ids=types, attention_mask=attention_mask).logits.sum().backward()
    torch.testing.assert_close(ours.bert.layers[0].self_attn.q_proj.weight.grad,
                               theirs.bert.encoder.layer[0].attention.self.query.weight.grad, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(ours.bert.embeddings.word_embeddings.weight.grad,
                               theirs.bert.embeddings.word_embeddings.weight.grad, atol=1e-9, rtol=1e-9)


def test_unsupported_configurations_are_refused():
    with pytest.raises(ValueError, match="hidden_act"):
        bert_from_hf(hf_bert(hidden_act="relu"))
    untied = hf_bert(tie_word_embeddings=False)
    with torch.no_grad():
        untied.cls.predictions.decoder.weight.add_(1.0)
    with pytest.raises(ValueError, match="tied"):
        bert_from_hf(untied)
    with pytest.raises(TypeError, match="BertForMaskedLM"):
        bert_from_hf(torch.nn.Linear(2, 2))
