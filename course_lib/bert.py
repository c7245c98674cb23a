"""BERT: a Transformer encoder pretrained by filling in masked words (chapters 7 and 8).

Read top to bottom: the configuration, the embeddings (token + position +
segment), the encoder (post-LN layers from ``course_lib.transformer``), the
masked-LM head, the masking recipe, and the classification head.

Around it, each in its own module and importable from here too: the word
tokenizer (course_lib/data/word_tokenizer.py), the sentence pairs it is
pretrained on (course_lib/data/sentence_pairs.py), zero-shot use and
fine-tuning (course_lib/classification.py), BERT's learning-rate schedule
(course_lib/training.py); the pretraining recipe that makes the shipped
checkpoint is GPT's neighbour in course_lib/pretrain.py.

Conventions: batch first; ``attention_mask`` follows HuggingFace (1 = real
token, 0 = padding), ``labels`` use -100 for "not predicted". The maths is
BERT's, so ``interop.bert_from_hf`` can load a HuggingFace BERT into these
classes and reproduce its outputs.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.attention import padding_mask
from course_lib.classification import (
    classification_batch,
    evaluate_classifier,
    fill_mask,
    fine_tune_classifier,
    fine_tune_step,
    predict_labels,
    zero_shot_positive,
)
from course_lib.data.sentence_pairs import PRETRAIN_STORIES, PRETRAIN_VISITS, pretraining_data
from course_lib.data.word_tokenizer import CLS, MASK, PAD, SEP, SPECIAL_TOKENS, UNK, BertTokenizer, trim_padding
from course_lib.training import warmup_linear_decay
from course_lib.transformer import EncoderLayer, LayerNorm, _make_activation

__all__ = [
    # the model
    "BertConfig", "BertEmbeddings", "BertModel", "BertMLMHead", "BertForMaskedLM", "mlm_loss", "mask_tokens",
    "ClassificationHead", "BertForSequenceClassification",
    # from course_lib.data.word_tokenizer and sentence_pairs
    "BertTokenizer", "PAD", "CLS", "SEP", "MASK", "UNK", "SPECIAL_TOKENS", "trim_padding", "pretraining_data",
    "PRETRAIN_STORIES", "PRETRAIN_VISITS",
    # from course_lib.classification and training
    "fill_mask", "zero_shot_positive", "classification_batch", "fine_tune_step", "predict_labels",
    "evaluate_classifier", "fine_tune_classifier", "warmup_linear_decay",
]


# --------------------------------------------------------------------------- configuration


@dataclass
class BertConfig:
    """Sizes of a BERT model. BERT-base is (vocab_size=30522, max_position=512,
    n_layer=12, n_head=12, d_model=768, d_ff=3072); the course's is tiny."""

    vocab_size: int
    max_position: int = 64  # longest input, [CLS] and [SEP]s included
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 128
    d_ff: int = 512
    type_vocab_size: int = 2  # segments: sentence A = 0, sentence B = 1
    dropout: float = 0.1
    layer_norm_eps: float = 1e-12  # BERT's value (torch's default is 1e-5)
    activation: str = "gelu"  # exact (erf) GELU, as BERT; "gelu_tanh" for the approximation
    pad_id: int = 0
    init_std: float = 0.02  # BERT's initializer_range

    def __post_init__(self):
        if self.d_model % self.n_head != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_head ({self.n_head})")
        for name in ("vocab_size", "max_position", "n_layer", "n_head", "d_model", "d_ff", "type_vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


# --------------------------------------------------------------------------- the encoder


class BertEmbeddings(nn.Module):
    """LayerNorm(token + position + segment embedding), then dropout.

    All three are learned tables and are *added*: each position's vector says
    which word, where, and in which sentence of the pair.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        # padding_idx: the [PAD] vector gets no gradient from the inputs (as in HuggingFace)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.position_embeddings = nn.Embedding(config.max_position, config.d_model)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.d_model)
        self.norm = LayerNorm(config.d_model, config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        """input_ids, token_type_ids: (batch, seq) -> (batch, seq, d_model)."""
        seq = input_ids.shape[1]
        if seq > self.position_embeddings.num_embeddings:
            raise ValueError(f"input of length {seq} is longer than max_position="
                             f"{self.position_embeddings.num_embeddings}")
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(seq, device=input_ids.device)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.norm(x))


def _check_inputs(input_ids: Tensor, token_type_ids: Tensor | None, attention_mask: Tensor | None) -> None:
    if not isinstance(input_ids, Tensor) or input_ids.dim() != 2 or input_ids.is_floating_point():
        shape = tuple(input_ids.shape) if isinstance(input_ids, Tensor) else type(input_ids).__name__
        raise ValueError(f"input_ids must be an integer tensor (batch, seq), got {shape}")
    for name, t in (("token_type_ids", token_type_ids), ("attention_mask", attention_mask)):
        if t is not None and t.shape != input_ids.shape:
            raise ValueError(f"{name} must have the shape of input_ids {tuple(input_ids.shape)}, got {tuple(t.shape)}")


def _init_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation: N(0, std^2) for every matrix and table, zero biases and [PAD] vector."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=std)
    if isinstance(module, nn.Embedding) and module.padding_idx is not None:
        with torch.no_grad():
            module.weight[module.padding_idx].zero_()
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


class BertModel(nn.Module):
    """Embeddings and a stack of post-LN encoder layers: token ids -> one vector per token.

    Every token attends to every other (no causal mask), so each output vector
    depends on the whole input: the left *and* the right context.
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = BertEmbeddings(config)
        # course_lib.transformer's layer is BERT's layer: LayerNorm(x + Sublayer(x)).
        self.layers = nn.ModuleList(
            EncoderLayer(config.d_model, config.n_head, config.d_ff, config.dropout, norm_first=False,
                         activation=config.activation, eps=config.layer_norm_eps)
            for _ in range(config.n_layer)
        )
        self.apply(lambda m: _init_weights(m, config.init_std))

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None = None,
                attention_mask: Tensor | None = None) -> Tensor:
        """
        Args:
            input_ids: (batch, seq) token ids.
            token_type_ids: (batch, seq) segment ids, 0 or 1; default all 0.
            attention_mask: (batch, seq), 1 = real token, 0 = padding; default all real.

        Returns: (batch, seq, d_model) hidden states of the last layer.
        """
        _check_inputs(input_ids, token_type_ids, attention_mask)
        # course_lib's masks are boolean, True = may attend, (batch, 1, 1, seq):
        # no query may look at a padded key.
        mask = None if attention_mask is None else padding_mask(key_padding=attention_mask == 0)
        x = self.embeddings(input_ids, token_type_ids)
        for layer in self.layers:
            x = layer(x, mask)
        return x


# --------------------------------------------------------------------------- masked language model


class BertMLMHead(nn.Module):
    """dense -> GELU -> LayerNorm -> decoder tied to the word embeddings (+ a bias per word).

    Tying makes a word's output score the dot product of the transformed hidden
    vector with that word's input embedding: words that behave alike get alike
    scores, and the model saves vocab_size * d_model parameters.
    """

    def __init__(self, config: BertConfig, word_embeddings: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.activation = _make_activation(config.activation)
        self.norm = LayerNorm(config.d_model, config.layer_norm_eps)
        self.decoder = nn.Linear(config.d_model, config.vocab_size)
        self.decoder.weight = word_embeddings.weight  # tied: one Parameter, two names

    def forward(self, hidden: Tensor) -> Tensor:
        """hidden: (..., d_model) -> logits (..., vocab_size)."""
        return self.decoder(self.norm(self.activation(self.dense(hidden))))


class BertForMaskedLM(nn.Module):
    """BERT with its pretraining head: predict the original word at each masked position."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.mlm_head = BertMLMHead(config, self.bert.embeddings.word_embeddings)
        _init_weights(self.mlm_head.dense, config.init_std)
        nn.init.zeros_(self.mlm_head.decoder.bias)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None = None,
                attention_mask: Tensor | None = None, labels: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        """
        Args:
            input_ids, token_type_ids, attention_mask: (batch, seq), see BertModel.
            labels: (batch, seq) original ids at the positions to predict, -100 elsewhere.

        Returns: logits (batch, seq, vocab_size), or (logits, loss) when labels are
        given; the loss is the mean cross-entropy over the predicted positions.
        """
        logits = self.mlm_head(self.bert(input_ids, token_type_ids, attention_mask))
        if labels is None:
            return logits
        if labels.shape != input_ids.shape:
            raise ValueError(f"labels must have the shape of input_ids {tuple(input_ids.shape)}, got {tuple(labels.shape)}")
        return logits, mlm_loss(logits, labels)


def mlm_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Mean cross-entropy over positions whose label is not -100 (0 if there are none).

    logits: (..., vocab), labels: (...).
    """
    keep = labels != -100
    if not keep.any():  # F.cross_entropy would return NaN (0 / 0)
        return logits.sum() * 0.0
    return F.cross_entropy(logits[keep], labels[keep])


def mask_tokens(
    input_ids: Tensor,
    vocab_size: int,
    mask_id: int,
    special: Tensor | Sequence[int] = (),
    mask_prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """BERT's masking: choose mask_prob of the ordinary tokens, hide them, ask for them back.

    Each non-special position is chosen independently with probability
    ``mask_prob``. Of the chosen ones, 80 % become [MASK], 10 % a random token
    and 10 % stay unchanged. The random and unchanged ones matter because
    [MASK] never occurs when fine-tuning: the model must build a good vector for
    *every* word, not only for [MASK], since any word might be the one asked for.

    Args:
        input_ids: (batch, seq) token ids (not modified).
        vocab_size: random replacements are drawn uniformly from [0, vocab_size).
        mask_id: the id of [MASK].
        special: the ids never to choose ([CLS], [SEP], [PAD], ...), or a boolean
            tensor of input_ids' shape, True at positions never to choose.
        generator: a CPU torch.Generator, for reproducible masks.

    Returns:
        masked_input_ids: (batch, seq).
        labels: (batch, seq), the original id at chosen positions, -100 elsewhere.
    """
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob must be in [0, 1], got {mask_prob}")
    if input_ids.is_floating_point():
        raise ValueError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
    if isinstance(special, Tensor) and special.dtype == torch.bool:
        if special.shape != input_ids.shape:
            raise ValueError(f"a special-position mask must have input_ids' shape {tuple(input_ids.shape)}, "
                             f"got {tuple(special.shape)}")
        is_special = special
    else:
        ids = special.tolist() if isinstance(special, Tensor) else list(special)
        is_special = torch.isin(input_ids, torch.tensor(ids, dtype=input_ids.dtype, device=input_ids.device))

    def rand(*shape):  # draw on the CPU generator, then move: same masks on every device
        return torch.rand(shape, generator=generator).to(input_ids.device)

    chosen = (rand(*input_ids.shape) < mask_prob) & ~is_special
    labels = input_ids.masked_fill(~chosen, -100)
    action = rand(*input_ids.shape)  # one draw decides mask / random / keep
    to_mask = chosen & (action < 0.8)
    to_random = chosen & (action >= 0.8) & (action < 0.9)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator).to(input_ids.device)
    masked = input_ids.masked_fill(to_mask, mask_id)
    masked = torch.where(to_random, random_ids, masked)
    return masked, labels


# --------------------------------------------------------------------------- classification


class ClassificationHead(nn.Module):
    """Logits from the [CLS] vector: BERT's pooler (dense + tanh), dropout, a linear classifier.

    [CLS] has no word of its own to represent; in every layer it attends to the
    whole input, so after fine-tuning its vector summarises what the task needs.
    ``pooling="mean"`` averages the vectors of the real tokens instead, which
    suits a *frozen* encoder: its [CLS] vector was never trained to summarise
    anything (masked-LM pretraining never asks [CLS] for a prediction).
    """

    def __init__(self, d_model: int, num_labels: int, dropout: float = 0.1, pooling: str = "cls"):
        super().__init__()
        if pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")
        self.pooling = pooling
        self.dense = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(d_model, num_labels)

    def forward(self, hidden: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """hidden: (batch, seq, d_model), position 0 being [CLS]; attention_mask: (batch, seq),
        1 = real token (used by mean pooling only). Returns logits (batch, num_labels)."""
        if self.pooling == "cls":
            summary = hidden[:, 0]
        elif attention_mask is None:
            summary = hidden.mean(1)
        else:
            weights = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (batch, seq, 1)
            summary = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        pooled = torch.tanh(self.dense(summary))
        return self.classifier(self.dropout(pooled))


class BertForSequenceClassification(nn.Module):
    """BERT + ClassificationHead: one label per input (sentence or sentence pair)."""

    def __init__(self, config: BertConfig, num_labels: int, pooling: str = "cls"):
        super().__init__()
        if num_labels < 2:
            raise ValueError(f"num_labels must be >= 2, got {num_labels}")
        self.config = config
        self.num_labels = num_labels
        self.bert = BertModel(config)
        self.head = ClassificationHead(config.d_model, num_labels, config.dropout, pooling)
        self.head.apply(lambda m: _init_weights(m, config.init_std))

    @classmethod
    def from_pretrained(cls, mlm: BertForMaskedLM, num_labels: int, pooling: str = "cls",
                        dropout: float | None = None) -> "BertForSequenceClassification":
        """A classifier whose encoder is a copy of `mlm`'s (the head starts fresh; `mlm` is untouched).

        dropout: replaces the pretrained config's dropout rate, if given.
        """
        config = mlm.config if dropout is None else replace(mlm.config, dropout=dropout)
        model = cls(config, num_labels, pooling)
        model.bert.load_state_dict(mlm.bert.state_dict())
        return model.to(next(mlm.parameters()).device)

    def freeze(self, part: str = "encoder") -> "BertForSequenceClassification":
        """Stop training part of the model; returns self.

        "encoder": all of BERT, only the head trains (frozen features).
        "embeddings": the word, position and segment tables only. With a few
        hundred examples, updating the vectors of the words they happen to
        contain moves those words away from the unseen ones they resembled
        after pretraining; freezing the tables keeps that resemblance.
        """
        parts = {"encoder": self.bert, "embeddings": self.bert.embeddings}
        if part not in parts:
            raise ValueError(f"part must be one of {sorted(parts)}, got {part!r}")
        for p in parts[part].parameters():
            p.requires_grad_(False)
        return self

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None = None,
                attention_mask: Tensor | None = None, labels: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        """input_ids etc.: (batch, seq); labels: (batch,) class ids.

        Returns logits (batch, num_labels), or (logits, mean cross-entropy) with labels.
        """
        logits = self.head(self.bert(input_ids, token_type_ids, attention_mask), attention_mask)
        if labels is None:
            return logits
        if labels.shape != logits.shape[:1]:
            raise ValueError(f"labels must be (batch,) = ({logits.shape[0]},), got {tuple(labels.shape)}")
        return logits, F.cross_entropy(logits, labels)
