"""course_lib.data.labelled: labels agree with an independent reading of each sentence; splits never overlap."""
from __future__ import annotations

import collections
import re

import pytest

from course_lib.data.labelled import (
    CLOSINGS,
    KINDS,
    NEGATIVE,
    POSITIVE,
    REACTIONS,
    LabelledSentence,
    generate_labelled_sentences,
    generate_opinion_stories,
    labelled_splits,
)


def clause_polarity(words: list[str]) -> int:
    """Read one clause as a person would: the polar word, flipped by "not"."""
    polar = [w for w in words if w in POSITIVE or w in NEGATIVE or w in ("liked", "loved", "enjoyed", "like",
                                                                       "love", "enjoy", "hated", "disliked", "mind")]
    assert len(polar) == 1, f"expected one sentiment word in clause {words}, found {polar}"
    w = polar[0]
    polarity = 1 if w in POSITIVE or w in ("liked", "loved", "enjoyed", "like", "love", "enjoy") else 0
    if w == "mind":  # "did not mind" is the only use
        return 1
    return 1 - polarity if "not" in words else polarity


def oracle(text: str) -> tuple[int, str]:
    """(label, kind) of a sentence, worked out from its words alone."""
    words = text.split()
    assert words[-1] == "."
    words = words[:-1]
    if "but" in words:
        i = words.index("but")
        first, second = clause_polarity(words[:i]), clause_polarity(words[i + 1:])
        assert first != second, f"the clauses of a 'but' sentence should disagree: {text}"
        return second, "but"
    if "although" in words:
        i = words.index("although")
        after = [j for j, w in enumerate(words) if w == "," and j > i]
        if after:  # "(opener ,) although A , B": B decides
            sub, main = words[i + 1:after[0]], words[after[0] + 1:]
        else:  # "(opener ,) B , although A": B decides
            sub, main = words[i + 1:], words[:i - 1]
            if "," in main:
                main = main[main.index(",") + 1:]  # drop an opener like "at the park ,"
        assert clause_polarity(sub) != clause_polarity(main), f"'although' clauses should disagree: {text}"
        return clause_polarity(main), "although"
    kind = "negation" if "not" in words else "plain"
    return clause_polarity(words), kind


def test_labels_follow_from_the_words():
    examples = generate_labelled_sentences(3000, seed=0)
    for ex in examples:
        assert isinstance(ex, LabelledSentence)
        assert oracle(ex.text) == (ex.label, ex.kind), ex


def test_generation_is_deterministic_balanced_and_varied():
    a = generate_labelled_sentences(2000, seed=3)
    assert a == generate_labelled_sentences(2000, seed=3)
    assert a != generate_labelled_sentences(2000, seed=4)
    labels = collections.Counter(ex.label for ex in a)
    kinds = collections.Counter(ex.kind for ex in a)
    assert 0.45 < labels[1] / len(a) < 0.55
    assert set(kinds) == set(KINDS) and min(kinds.values()) > 0.2 * len(a)
    assert len({ex.text for ex in a}) > 0.95 * len(a)
    only = generate_labelled_sentences(50, seed=0, kinds=["negation"])
    assert {ex.kind for ex in only} == {"negation"}
    with pytest.raises(ValueError, match="unknown kind"):
        generate_labelled_sentences(5, kinds=["sarcasm"])


def test_counting_sentiment_words_is_a_coin_flip_on_contrasts():
    """In 'but'/'although' sentences both polarities occur: the words alone do not give the label."""
    contrast = [ex for ex in generate_labelled_sentences(2000, seed=1) if ex.kind in ("but", "although")]
    majority_right = 0
    for ex in contrast:
        words = ex.text.split()
        score = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
        majority_right += (score > 0) == (ex.label == 1)
    assert 0.35 < majority_right / len(contrast) < 0.65


def test_splits_are_disjoint_and_reproducible():
    splits = labelled_splits(n_train=300, n_val=100, n_test=500, seed=0)
    assert [len(splits[k]) for k in ("train", "val", "test")] == [300, 100, 500]
    texts = [ex.text for k in ("train", "val", "test") for ex in splits[k]]
    assert len(set(texts)) == len(texts), "a sentence appears twice (within or across splits)"
    assert labelled_splits(n_train=300, n_val=100, n_test=500, seed=0) == splits
    assert labelled_splits(n_train=300, n_val=100, n_test=500, seed=1)["test"] != splits["test"]


def test_opinion_stories_react_in_line_with_the_sentiment_and_skip_excluded_sentences():
    splits = labelled_splits()
    held_out = {ex.text for ex in splits["val"] + splits["test"]}
    text = generate_opinion_stories(300, seed=1, exclude=held_out)
    assert text == generate_opinion_stories(300, seed=1, exclude=held_out)
    def template(r: str) -> re.Pattern:
        return re.compile(re.escape(r).replace(r"\{N\}", r"\w+").replace(r"\{s\}", "(her|his)") + "$")

    patterns = {label: [template(r) for r in rs] for label, rs in REACTIONS.items()}
    n_opinions = 0
    for visit in text.strip().split("\n\n"):
        lines = visit.split("\n")
        assert any(lines[-1] in closings for closings in CLOSINGS.values())
        for line in lines[1:-1]:  # the first line says where the visit goes, the last how it felt
            sentence, reaction = line.split(" . ", 1)
            sentence += " ."
            assert sentence not in held_out
            label, _ = oracle(sentence)
            fits = {lab for lab, ps in patterns.items() if any(p.match(reaction) for p in ps)}
            assert fits == {label}, f"reaction {reaction!r} does not fit {sentence!r} (label {label})"
            n_opinions += 1
    assert n_opinions > 300
    with pytest.raises(ValueError, match="num_stories"):
        generate_opinion_stories(0)


def test_accuracy_by_kind_counts_each_kind_apart():
    from course_lib.data.labelled import LabelledSentence, accuracy_by_kind

    examples = [LabelledSentence("a", 1, "plain"), LabelledSentence("b", 0, "plain"),
                LabelledSentence("c", 1, "negation"), LabelledSentence("d", 0, "but")]
    result = accuracy_by_kind([True, False, True, True], examples)
    assert result == {"all": 0.75, "plain": 0.5, "negation": 1.0, "but": 1.0}  # no "although": none given
    with pytest.raises(ValueError, match="3 truth values for 4 examples"):
        accuracy_by_kind([True, True, False], examples)
