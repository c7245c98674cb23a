"""course_lib.lora and course_lib.distillation: LoRA's zero start, merge, freezing; the distillation loss."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.bert import BertConfig, BertForSequenceClassification, BertTokenizer
from course_lib.distillation import distil_classifier, distillation_loss
from course_lib.lora import LoRALinear, apply_lora, count_parameters, merge_lora

DT = torch.float64


def linear(seed=0, bias=True):
    torch.manual_seed(seed)
    return nn.Linear(12, 10, bias=bias).to(DT)


def randn(*shape, seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=DT)


def trained(lora: LoRALinear, seed=2) -> LoRALinear:
    """Give B non-zero values, as training would."""
    with torch.no_grad():
        lora.lora_B.copy_(randn(*lora.lora_B.shape, seed=seed))
    return lora


# --------------------------------------------------------------------------- LoRALinear


def test_update_is_zero_at_start():
    base = linear()
    lora = LoRALinear(base, rank=3, alpha=6.0)
    x = randn(4, 5, 12)
    torch.testing.assert_close(lora(x), base(x), rtol=0, atol=0)
    assert torch.count_nonzero(lora.lora_A) > 0, "A must be random (with A = B = 0 nothing would ever train)"
    assert lora.lora_A.shape == (3, 12) and lora.lora_B.shape == (10, 3)


def test_forward_is_base_plus_scaled_low_rank_update():
    base = linear()
    lora = trained(LoRALinear(base, rank=3, alpha=6.0))
    x = randn(4, 12)
    expected = x @ (base.weight + 2.0 * lora.lora_B @ lora.lora_A).T + base.bias  # alpha / rank = 2
    torch.testing.assert_close(lora(x), expected)
    torch.testing.assert_close(lora.delta_weight(), 2.0 * lora.lora_B @ lora.lora_A)


@pytest.mark.parametrize("bias", [True, False])
def test_merge_gives_a_plain_linear_with_the_same_outputs(bias):
    lora = trained(LoRALinear(linear(bias=bias), rank=2, alpha=4.0))
    merged = lora.merge()
    assert type(merged) is nn.Linear and (merged.bias is None) == (not bias)
    assert merged.weight.dtype == DT
    x = randn(3, 7, 12)
    torch.testing.assert_close(merged(x), lora(x))
    assert not torch.allclose(merged.weight, lora.base.weight), "the merged weight must include B A"


def test_base_is_frozen_and_gradients_reach_a_and_b():
    lora = LoRALinear(linear(), rank=2, alpha=2.0)
    assert not lora.base.weight.requires_grad and not lora.base.bias.requires_grad
    assert [n for n, p in lora.named_parameters() if p.requires_grad] == ["lora_A", "lora_B"]
    lora(randn(5, 12)).pow(2).sum().backward()
    assert lora.base.weight.grad is None
    assert lora.lora_B.grad.abs().sum() > 0, "B gets a gradient at the start (it is proportional to A x)"
    assert lora.lora_A.grad.abs().sum() == 0, "with B = 0, A's gradient is exactly 0 at the first step"
    trained(lora).zero_grad()
    lora(randn(5, 12)).pow(2).sum().backward()
    assert lora.lora_A.grad.abs().sum() > 0


def test_lora_checks_its_arguments():
    with pytest.raises(ValueError, match="rank"):
        LoRALinear(linear(), rank=11)
    with pytest.raises(TypeError, match="nn.Linear"):
        LoRALinear(nn.Conv1d(2, 2, 1), rank=1)


# --------------------------------------------------------------------------- apply_lora on a model


def bert_classifier():
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, max_position=16, n_layer=2, n_head=2, d_model=32, d_ff=64, dropout=0.0)
    return BertForSequenceClassification(config, num_labels=2).to(DT).eval()


def test_apply_lora_wraps_targets_and_freezes_everything_else():
    model = bert_classifier()
    ids = torch.randint(5, 50, (3, 8), generator=torch.Generator().manual_seed(0))
    before = model(ids)
    _, total_before = count_parameters(model)
    apply_lora(model, ("q_proj", "v_proj"), rank=2, alpha=4.0, trainable=("head",))
    torch.testing.assert_close(model(ids), before, rtol=0, atol=0)  # zero update at start
    for layer in model.bert.layers:
        assert isinstance(layer.self_attn.q_proj, LoRALinear) and isinstance(layer.self_attn.v_proj, LoRALinear)
        assert type(layer.self_attn.k_proj) is nn.Linear and type(layer.self_attn.out_proj) is nn.Linear
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert all(n.endswith(("lora_A", "lora_B")) or n.startswith("head.") for n in trainable)
    assert {n for n in trainable if n.startswith("head.")} == {n for n, _ in model.named_parameters()
                                                              if n.startswith("head.")}
    n_trainable, total = count_parameters(model)
    lora_numbers = 2 * 2 * (2 * 32 + 32 * 2)  # layers * (q, v) * (A + B)
    head_numbers = sum(p.numel() for p in model.head.parameters())
    assert n_trainable == lora_numbers + head_numbers
    assert total == total_before + lora_numbers
    # merging removes the adapters and keeps the function
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.normal_()
    adapted = model(ids)
    merge_lora(model)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    torch.testing.assert_close(model(ids), adapted)


def test_apply_lora_names_the_layers_when_nothing_matches():
    with pytest.raises(ValueError, match="q_proj"):
        apply_lora(bert_classifier(), target_names=("query",))


def test_lora_fine_tuning_moves_only_lora_and_head():
    model = bert_classifier()
    apply_lora(model, rank=2, alpha=4.0, trainable=("head",))
    frozen = {n: p.clone() for n, p in model.named_parameters() if not p.requires_grad}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    ids = torch.randint(5, 50, (4, 8), generator=torch.Generator().manual_seed(1))
    for _ in range(3):
        _, loss = model(ids, labels=torch.tensor([0, 1, 0, 1]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    for n, p in model.named_parameters():
        if not p.requires_grad:
            assert torch.equal(p, frozen[n]), f"{n} is frozen but changed"
    assert any(m.lora_B.abs().sum() > 0 for m in model.modules() if isinstance(m, LoRALinear))


# --------------------------------------------------------------------------- distillation


def test_distillation_loss_by_hand():
    student = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 1.0]], dtype=DT)
    teacher = torch.tensor([[2.0, 1.0, 0.0], [0.5, 0.5, -2.0]], dtype=DT)
    labels = torch.tensor([1, 2])
    T, alpha = 2.0, 0.3
    kl = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        zs = sum(math.exp(v / T) for v in s_row)
        zt = sum(math.exp(v / T) for v in t_row)
        for s, t in zip(s_row, t_row):
            p_t, p_s = math.exp(t / T) / zt, math.exp(s / T) / zs
            kl += p_t * math.log(p_t / p_s)
    kl /= 2  # mean over the batch
    ce = -(math.log(math.exp(2.0) / sum(math.exp(v) for v in student[0].tolist()))
           + math.log(math.exp(1.0) / sum(math.exp(v) for v in student[1].tolist()))) / 2
    got = distillation_loss(student, teacher, labels, temperature=T, alpha=alpha)
    assert got.item() == pytest.approx(alpha * T**2 * kl + (1 - alpha) * ce, rel=1e-12)
    soft_only = distillation_loss(student, teacher, temperature=T)
    assert soft_only.item() == pytest.approx(T**2 * kl, rel=1e-12)
    # agrees with torch's KL divergence
    torch.testing.assert_close(soft_only, T**2 * F.kl_div(F.log_softmax(student / T, -1), F.log_softmax(teacher / T, -1),
                                                          reduction="batchmean", log_target=True))


def test_distillation_loss_is_zero_when_student_matches_and_teacher_gets_no_gradient():
    logits = randn(5, 4)
    assert distillation_loss(logits, logits.clone(), temperature=3.0).abs().item() < 1e-12
    student = randn(5, 4).requires_grad_()
    teacher = randn(5, 4, seed=2).requires_grad_()
    distillation_loss(student, teacher, torch.tensor([0, 1, 2, 3, 0]), temperature=2.0).backward()
    assert student.grad is not None and teacher.grad is None


def test_t_squared_keeps_the_gradient_size_independent_of_t():
    student, teacher = randn(64, 10, seed=3), randn(64, 10, seed=4)

    def grad_norm(T, scale=True):
        s = student.clone().requires_grad_()
        loss = distillation_loss(s, teacher, temperature=T)
        (loss if scale else loss / T**2).backward()
        return s.grad.norm().item()

    norms = [grad_norm(T) for T in (4.0, 8.0, 16.0)]
    assert max(norms) / min(norms) < 1.15, f"with T^2 the gradient norms should be close, got {norms}"
    unscaled = [grad_norm(T, scale=False) for T in (4.0, 8.0, 16.0)]
    assert unscaled[0] / unscaled[2] > 12, "without T^2 the gradient shrinks like 1 / T^2 (16x from T=4 to 16)"


def test_distillation_on_sequences_ignores_minus_100():
    student, teacher = randn(2, 5, 7), randn(2, 5, 7, seed=2)
    labels = torch.randint(0, 7, (2, 5), generator=torch.Generator().manual_seed(0))
    labels[0, 3:] = -100
    keep = labels != -100
    got = distillation_loss(student, teacher, labels, temperature=2.0, alpha=0.5)
    expected = distillation_loss(student[keep], teacher[keep], labels[keep], temperature=2.0, alpha=0.5)
    torch.testing.assert_close(got, expected)


def test_distillation_loss_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        distillation_loss(randn(2, 3), randn(2, 4))
    with pytest.raises(ValueError, match="temperature"):
        distillation_loss(randn(2, 3), randn(2, 3), temperature=0.0)
    with pytest.raises(ValueError, match="labels must have shape"):
        distillation_loss(randn(2, 3), randn(2, 3), torch.tensor([0, 1, 2]))


def test_distil_classifier_makes_the_student_agree_with_the_teacher():
    tok = BertTokenizer.build(["a b c d e f g h"])
    config = BertConfig(vocab_size=len(tok), max_position=12, n_layer=1, n_head=2, d_model=16, d_ff=32, dropout=0.0)
    torch.manual_seed(0)
    # large random weights: a teacher with confident, varied answers
    teacher = BertForSequenceClassification(replace(config, init_std=0.5), 3, pooling="mean").eval()
    student = BertForSequenceClassification(config, 3, pooling="mean")
    g = torch.Generator().manual_seed(0)
    texts = [" ".join("abcdefgh"[i] for i in torch.randint(8, (4,), generator=g).tolist()) for _ in range(24)]
    batch = tok.batch(texts)

    def agreement():
        with torch.no_grad():
            return (student.eval()(**batch).argmax(-1) == teacher(**batch).argmax(-1)).float().mean().item()

    assert len(set(teacher(**batch).argmax(-1).tolist())) > 1, "the test needs a teacher with varied answers"
    before = agreement()
    history = distil_classifier(student, teacher, tok, texts, steps=300, batch_size=8, lr=3e-3, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    after = agreement()
    assert after >= max(0.85, before + 0.3)
    with pytest.raises(ValueError, match="alpha < 1"):
        distil_classifier(student, teacher, tok, texts, steps=1, alpha=0.5, progress=False)


def test_student_from_teacher_keeps_the_chosen_layers_and_leaves_the_teacher_alone():
    from course_lib.distillation import student_from_teacher

    teacher = bert_classifier()
    before = {n: p.clone() for n, p in teacher.state_dict().items()}
    student = student_from_teacher(teacher, [1])
    assert student.config.n_layer == 1 and len(student.bert.layers) == 1 and teacher.config.n_layer == 2
    for name, p in student.bert.layers[0].state_dict().items():
        assert torch.equal(p, teacher.bert.layers[1].state_dict()[name])
    assert torch.equal(student.head.classifier.weight, teacher.head.classifier.weight)
    # a copy: training the student does not move the teacher
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    assert all(torch.equal(p, before[n]) for n, p in teacher.state_dict().items())
    # the student computes the teacher's function with layer 0 skipped
    ids = torch.randint(5, 50, (2, 6), generator=torch.Generator().manual_seed(3))
    skipped = student_from_teacher(teacher, [1])
    x = teacher.bert.embeddings(ids)
    expected = teacher.head(teacher.bert.layers[1](x, None))
    torch.testing.assert_close(skipped(ids), expected)
    n_student = sum(p.numel() for p in skipped.parameters())
    n_layer = sum(p.numel() for p in teacher.bert.layers[0].parameters())
    assert n_student == sum(p.numel() for p in teacher.parameters()) - n_layer
    with pytest.raises(ValueError, match="layers"):
        student_from_teacher(teacher, [2])
