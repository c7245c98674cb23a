"""course_lib.ulmfit (chapter 07's ULMFiT): language-model targets, the concat-pooling classifier, and
the two fine-tuning tricks, tested as properties."""
import copy

import pytest
import torch

from course_lib import rnn, ulmfit


def _batch(lengths, vocab=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(5, vocab, (len(lengths), width), generator=g)
    mask = (torch.arange(width) < torch.tensor(lengths)[:, None]).long()
    return ids.masked_fill(mask == 0, 0), mask


def test_lm_targets_are_the_next_real_token():
    ids, mask = _batch([5, 3])
    inputs, targets = ulmfit.lm_inputs_and_targets(ids, mask)
    assert torch.equal(inputs, ids[:, :-1])
    assert torch.equal(targets[0], ids[0, 1:])
    assert targets[1].tolist()[:2] == ids[1, 1:3].tolist() and (targets[1, 2:] == -100).all()


def test_classifier_ignores_padding_and_pools_as_described():
    torch.manual_seed(0)
    model = ulmfit.LSTMClassifier(rnn.CharLM(20, embed_dim=6, hidden_size=8)).double().eval()
    ids, mask = _batch([6, 4, 2])
    logits = model(ids, None, mask)
    assert logits.shape == (3, 2)
    # four more columns of padding change nothing (right padding never reaches a real token's state)
    wider_ids = torch.cat([ids, torch.zeros(3, 4, dtype=torch.long)], 1)
    wider_mask = torch.cat([mask, torch.zeros(3, 4, dtype=torch.long)], 1)
    assert torch.allclose(model(wider_ids, None, wider_mask), logits, atol=1e-12)
    # concat pooling by hand for the second sentence (4 real tokens)
    states, _ = model.rnn(model.embed(ids[1:2, :4]))
    pooled = torch.cat([states[0, -1], states[0].max(0).values, states[0].mean(0)])
    assert torch.allclose(model.head(pooled), logits[1], atol=1e-12)
    # the same call as BERT's classifier, with a loss when labels are given
    _, loss = model(ids, None, mask, labels=torch.tensor([0, 1, 1]))
    assert loss.dim() == 0 and loss.item() > 0


def test_discriminative_rates_fall_by_the_factor_towards_the_bottom():
    assert ulmfit.discriminative_learning_rates(0.01) == pytest.approx([0.01 / 2.6 ** 2, 0.01 / 2.6, 0.01])


def test_gradual_unfreezing_trains_the_head_alone_first():
    torch.manual_seed(1)
    model = ulmfit.LSTMClassifier(rnn.CharLM(20, embed_dim=6, hidden_size=8))
    before = copy.deepcopy(model.state_dict())
    ids, mask = _batch([5, 5, 3, 4], seed=2)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 0, 1])}
    ulmfit.fine_tune(model, [batch], lr=1e-2, gradual_unfreezing=True, progress=False)
    after = copy.deepcopy(model.state_dict())
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == {"head.weight", "head.bias"}, changed
    assert all(p.requires_grad for p in model.parameters()), "every layer is trainable again after the run"
    # without the trick one step moves every group
    ulmfit.fine_tune(model, [batch], lr=1e-2, progress=False)
    assert {name for name in after if not torch.equal(after[name], model.state_dict()[name])} == set(after)


def test_pretraining_lowers_the_perplexity():
    ids, mask = _batch([12] * 64, vocab=12, seed=3)
    ids[:, 1::2] = ids[:, 0::2] % 7 + 5   # every second token follows from the one before it
    data = {"input_ids": ids, "attention_mask": mask}
    torch.manual_seed(0)
    lm = rnn.CharLM(12, embed_dim=8, hidden_size=16)
    before = ulmfit.lm_perplexity(lm, data)
    ulmfit.pretrain_lm(lm, data, steps=60, batch_size=16, lr=1e-2, progress=False)
    assert ulmfit.lm_perplexity(lm, data) < 0.7 * before
