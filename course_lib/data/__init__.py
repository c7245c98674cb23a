"""Datasets generated from a seed (no downloads), tokenizers, batching, and load_text."""
from .algorithmic import (
    copy_task,
    long_range_recall_task,
    reverse_task,
    sequence_task,
    sequence_task_splits,
    sort_task,
    symbol_vocab,
)
from .batching import pad_sequences, random_lm_batch, sequential_lm_batches
from .corpus import generate_stories, split_text
from .text import load_text
from .tokenizers import BPETokenizer, CharTokenizer
from .word_tokenizer import BertTokenizer

__all__ = [
    "CharTokenizer",
    "BPETokenizer",
    "BertTokenizer",
    "generate_stories",
    "split_text",
    "load_text",
    "random_lm_batch",
    "sequential_lm_batches",
    "pad_sequences",
    "long_range_recall_task",
    "sequence_task",
    "sequence_task_splits",
    "copy_task",
    "reverse_task",
    "sort_task",
    "symbol_vocab",
]

# Labelled sentences for chapters 7 and 8 (course_lib.data.labelled).
from .labelled import (
    LABELS,
    LabelledSentence,
    accuracy_by_kind,
    generate_labelled_sentences,
    generate_opinion_stories,
    labelled_splits,
)

__all__ += ["LABELS", "LabelledSentence", "accuracy_by_kind", "generate_labelled_sentences",
            "generate_opinion_stories", "labelled_splits"]
