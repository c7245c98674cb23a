"""Knowledge distillation: train a small student on a big teacher's outputs (chapter 8).

Hinton et al. (2015): a trained teacher's full output distribution says more
than the label alone. "Mostly positive, a bit negative" tells the student which
examples are hard and which classes look alike ("dark knowledge"). Softening both
distributions with a temperature T > 1 brings that information out of the
near-zero probabilities:

    soft loss = T^2 * KL( softmax(teacher / T) || softmax(student / T) )

Why T^2: the gradient of the KL term with respect to the student's logits is
(p_student - p_teacher) / T, and for large T both probabilities differ by about
(logit differences) / T, so the gradient shrinks as 1 / T^2. Multiplying by T^2
keeps its size the same whatever T is, so that T can be tuned without retuning
the learning rate or the mix with the hard-label loss.

Where the student starts matters as much as what it learns from. DistilBERT
(Sanh et al., 2019) keeps its teacher's width and takes every other layer of
the teacher as its starting point; ``student_from_teacher`` does the same for
the course's BERT classifiers.
"""
from __future__ import annotations

import copy
from dataclasses import replace
from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["distillation_loss", "student_from_teacher", "distil_classifier"]


def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor | None = None,
    temperature: float = 2.0,
    alpha: float = 0.5,
    ignore_index: int = -100,
) -> Tensor:
    """alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, labels).

    Args:
        student_logits: (..., num_classes), e.g. (batch, classes) or (batch, seq, vocab).
        teacher_logits: the same shape; no gradient flows into the teacher.
        labels: (...) true class ids, or None for the soft loss alone (then
            alpha is not used: the result is the full soft term).
        temperature: T > 0; T = 1 compares the plain probabilities.
        alpha: weight of the soft (teacher) term, in [0, 1].
        ignore_index: label value of positions left out of both terms.

    Returns: a scalar, averaged over the leading (...) positions.
    """
    if student_logits.shape != teacher_logits.shape:
        raise ValueError(f"student logits {tuple(student_logits.shape)} and teacher logits "
                         f"{tuple(teacher_logits.shape)} must have the same shape (..., num_classes)")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    student = student_logits.reshape(-1, student_logits.shape[-1])
    teacher = teacher_logits.detach().reshape(-1, teacher_logits.shape[-1])
    if labels is not None:
        if labels.shape != student_logits.shape[:-1]:
            raise ValueError(f"labels must have shape {tuple(student_logits.shape[:-1])} (the logits' leading "
                             f"dims), got {tuple(labels.shape)}")
        keep = labels.reshape(-1) != ignore_index
        student, teacher, targets = student[keep], teacher[keep], labels.reshape(-1)[keep]

    log_p_student = F.log_softmax(student / temperature, dim=-1)
    log_p_teacher = F.log_softmax(teacher / temperature, dim=-1)
    # KL(t || s) = sum_c t_c (log t_c - log s_c), summed over classes, averaged over positions
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1).mean()
    soft = temperature**2 * kl
    if labels is None:
        return soft
    return alpha * soft + (1.0 - alpha) * F.cross_entropy(student, targets)


def student_from_teacher(teacher: nn.Module, layers: Sequence[int]) -> nn.Module:
    """A shallower copy of a BERT classifier: the same embeddings and head, only the encoder layers `layers`.

    teacher: a course_lib.bert.BertForSequenceClassification (or anything with
        .config.n_layer and .bert.layers); it is not changed.
    layers: indices of the teacher's layers to keep, in the order to stack them,
        e.g. (0,) for a one-layer student of a two-layer teacher.

    The copy starts where the teacher's own computation starts, so it already
    reads the words as the teacher does; distillation then only has to teach
    the fewer layers to do the work of more (as DistilBERT is initialised).
    """
    n = teacher.config.n_layer
    if not layers or any(not 0 <= i < n for i in layers):
        raise ValueError(f"layers must be a non-empty list of indices in [0, {n}), got {list(layers)}")
    student = copy.deepcopy(teacher)
    student.bert.layers = nn.ModuleList(student.bert.layers[i] for i in layers)
    student.config = replace(teacher.config, n_layer=len(layers))
    student.bert.config = student.config
    return student


def distil_classifier(
    student: nn.Module,
    teacher: nn.Module,
    tokenizer,
    texts: Sequence,
    *,
    steps: int = 600,
    batch_size: int = 32,
    lr: float = 1e-3,
    temperature: float = 2.0,
    alpha: float = 1.0,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, list]:
    """Train a sequence classifier `student` to match `teacher` on `texts`.

    texts: strings, or (text, label, ...) examples; labels are used only when
    alpha < 1 (the hard-label share of the loss). The teacher needs no labels,
    so any unlabelled text of the right kind can be the "transfer set": that is
    how a teacher fine-tuned on a few hundred examples passes its knowledge on.
    Both models take the batches of ``course_lib.classification.classification_batch``.
    Returns course_lib.training.fit's history.
    """
    import torch

    from course_lib.classification import classification_batch
    from course_lib.training import fit

    examples = [(t, 0) if isinstance(t, str) else t for t in texts]
    if alpha < 1 and any(isinstance(t, str) for t in texts):
        raise ValueError("alpha < 1 mixes in the hard-label loss: give (text, label) examples, not bare strings")
    teacher.eval()
    device = next(student.parameters()).device
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)

    def batch_fn(step: int):
        idx = torch.randint(len(examples), (batch_size,), generator=g).tolist()
        return classification_batch(tokenizer, [examples[i] for i in idx], device)

    def loss_fn(model: nn.Module, b) -> Tensor:
        with torch.no_grad():
            teacher_logits = teacher(b["input_ids"], b["token_type_ids"], b["attention_mask"])
        student_logits = model(b["input_ids"], b["token_type_ids"], b["attention_mask"])
        return distillation_loss(student_logits, teacher_logits, b["labels"] if alpha < 1 else None,
                                 temperature=temperature, alpha=alpha)

    return fit(student, optimizer, batch_fn, loss_fn, steps, clip_norm=1.0, progress=progress)
