"""The text BERT is pretrained on: documents cut into pairs of consecutive sentences (chapter 7).

The documents are chapter 1's stories and the opinion visits of
course_lib/data/labelled.py; each pair is one input, [CLS] A [SEP] B [SEP],
so the model learns from words in context on both sides and across a
sentence boundary. The word vocabulary is built from the same text.
"""
from __future__ import annotations

import functools

import torch
from torch import Tensor

from .corpus import STORY_SEPARATOR, generate_stories
from .labelled import generate_opinion_stories, labelled_splits
from .word_tokenizer import BertTokenizer, pad_batch

__all__ = ["PRETRAIN_STORIES", "PRETRAIN_VISITS", "pretraining_data"]

PRETRAIN_STORIES = 500  # from course_lib.data.generate_stories
PRETRAIN_VISITS = 4000  # from course_lib.data.labelled.generate_opinion_stories


def _sentences(tokens: list[str]) -> list[list[str]]:
    """Split a token list into sentences at . ! ? outside quotes (quoted speech stays whole)."""
    out, current, in_quote = [], [], False
    for tok in tokens:
        current.append(tok)
        if tok == '"':
            in_quote = not in_quote
        elif tok in ".!?" and not in_quote:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


def _pairs(document: str, max_tokens: int, rng: torch.Generator) -> list[tuple[list[str], list[str]]]:
    """Cut a document into (segment A, segment B) pairs of consecutive sentences.

    Each pair holds as many whole sentences as fit in max_tokens and is split at
    a random sentence boundary, so the model sees sentences next to the ones
    that really follow them, in either segment.
    """
    sentences = [s[:max_tokens - 1] for s in _sentences(BertTokenizer.tokenize(document))]
    pairs, i = [], 0
    while i < len(sentences):
        chunk, n = [sentences[i]], len(sentences[i])
        i += 1
        while i < len(sentences) and n + len(sentences[i]) <= max_tokens:
            chunk.append(sentences[i])
            n += len(sentences[i])
            i += 1
        if len(chunk) == 1:  # a single long sentence: split it in the middle
            words = chunk[0]
            pairs.append((words[: len(words) // 2], words[len(words) // 2:]))
            continue
        cut = 1 + int(torch.randint(len(chunk) - 1, (1,), generator=rng))
        pairs.append(([w for s in chunk[:cut] for w in s], [w for s in chunk[cut:] for w in s]))
    return pairs


def pretraining_data(seed: int = 0, max_position: int = 64) -> tuple[BertTokenizer, dict[str, dict[str, Tensor]]]:
    """The tokenizer and the tokenized sentence pairs of BERT's pretraining (course_lib.pretrain.pretrain_bert).

    Text: the story corpus (course_lib.data.generate_stories) and the opinion
    visits of course_lib.data.labelled (with the labelled val/test sentences of
    labelled_splits() left out, so that pretraining never sees a test sentence).
    The last 5 % of the documents of each kind are held out for validation.

    Returns (tokenizer, {"train": batch, "val": batch}), each batch a dict of
    (num_pairs, max_position) tensors "input_ids", "token_type_ids", "attention_mask".
    """
    tokenizer, data = _pretraining_data(seed, max_position, PRETRAIN_STORIES, PRETRAIN_VISITS)
    # copies: the cached tensors must not be changed by the caller
    return tokenizer, {split: {k: v.clone() for k, v in batch.items()} for split, batch in data.items()}


@functools.lru_cache(maxsize=2)
def _pretraining_data(seed: int, max_position: int, num_stories: int, num_visits: int):
    splits = labelled_splits(seed=seed)
    held_out = {ex.text for ex in splits["val"] + splits["test"]}
    stories = generate_stories(num_stories, seed=seed).strip().split(STORY_SEPARATOR)
    visits = generate_opinion_stories(num_visits, seed=seed + 1, exclude=held_out).strip().split(STORY_SEPARATOR)
    # The vocabulary also covers the labelled sentences, so fine-tuning has no [UNK]s.
    tokenizer = BertTokenizer.build(stories + visits + [ex.text for s in splits.values() for ex in s])

    rng = torch.Generator().manual_seed(seed)
    docs = {"train": [], "val": []}
    for kind in (stories, visits):
        n_val = max(1, len(kind) // 20)
        docs["train"] += kind[:-n_val]
        docs["val"] += kind[-n_val:]
    data = {}
    for split, documents in docs.items():
        pairs = [p for d in documents for p in _pairs(d, max_position - 3, rng)]
        ids, types = [], []
        for a, b in pairs:
            x = [tokenizer.cls_id] + [tokenizer.stoi.get(w, tokenizer.unk_id) for w in a] + [tokenizer.sep_id]
            y = [tokenizer.stoi.get(w, tokenizer.unk_id) for w in b] + [tokenizer.sep_id]
            ids.append(x + y)
            types.append([0] * len(x) + [1] * len(y))
        data[split] = pad_batch(ids, types, tokenizer.pad_id)
    return tokenizer, data
