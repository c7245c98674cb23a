"""Chapter 00's answer files against its visible checks (the shared tests of tests/answer_checks.py):
the references pass, every alternative in tests/answers/00_embeddings passes, every wrong answer
fails with a message, and the listed ones with the hint meant for them."""
from pathlib import Path

import torch
import torch.nn.functional as F

from course_lib import checks, embeddings

ANSWERS = Path(__file__).resolve().parent / "answers" / "00_embeddings"
CHECKS = {  # answer cell -> (function name, its check)
    "one_hot_embed": ("one_hot_embed", checks.check_one_hot_embed),
    "skipgram_pairs": ("skipgram_pairs", checks.check_skipgram_pairs),
    "negative_sampling_loss": ("negative_sampling_loss", checks.check_negative_sampling_loss),
    "analogy": ("analogy", checks.check_analogy),
}
NAMESPACE = dict(torch=torch, F=F)
REFERENCES = {"one_hot_embed": embeddings.one_hot_embed, "skipgram_pairs": embeddings.skipgram_pairs,
              "negative_sampling_loss": embeddings.negative_sampling_loss, "analogy": embeddings.analogy}
HINTS = [
    ("one_hot_embed/mutant_integer_one_hot.py", "F.one_hot gives integers"),
    ("one_hot_embed/mutant_transposed.py", "V = weight.shape[0]"),
    ("one_hot_embed/mutant_off_by_one.py", "the row before its own"),
    ("one_hot_embed/mutant_bag_of_words.py", "summed over the words"),
    ("one_hot_embed/mutant_flat_only.py", "ids can have any shape"),
    ("one_hot_embed/mutant_size_from_ids.py", "without num_classes makes them ids.max() + 1 long"),
    ("one_hot_embed/mutant_squeezed.py", "squeeze() drops EVERY axis of size 1"),
    ("skipgram_pairs/mutant_includes_center.py", "paired with itself"),
    ("skipgram_pairs/mutant_right_side_only.py", "both sides"),
    ("skipgram_pairs/mutant_window_too_short.py", "one word short"),
    ("skipgram_pairs/mutant_wraps_around.py", "wrap around"),
    ("skipgram_pairs/mutant_empty_wrong_shape.py", "expected shape (0, 2) and torch.long"),
    ("negative_sampling_loss/mutant_sum_over_batch.py", "mean over the batch"),
    ("negative_sampling_loss/mutant_no_minus_on_negatives.py", "minus sign"),
    ("negative_sampling_loss/mutant_mean_over_negatives.py", "SUMS their terms"),
    ("negative_sampling_loss/mutant_naive_log_sigmoid.py", "F.logsigmoid"),
    ("negative_sampling_loss/mutant_softmax.py", "binary (sigmoid) decisions"),
    ("negative_sampling_loss/mutant_squeezed.py", "with k = 1 the (B, k) scores become (B,)"),
    ("analogy/mutant_dot_product.py", "cosine similarity"),
    ("analogy/mutant_keeps_inputs.py", "leave a, b and c out"),
    ("analogy/mutant_wrong_direction.py", "add b - a to c"),
    ("analogy/mutant_masked_with_zero.py", "a cosine similarity runs from -1 to 1"),
    ("analogy/mutant_candidates_removed.py", "return an index into the full vocabulary"),
    ("analogy/mutant_offset_unnormalised.py", "normalise each of the three to unit length BEFORE forming"),
]

from answer_checks import *  # noqa: E402,F401,F403  the shared tests, over the names above
