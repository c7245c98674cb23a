"""course_lib.data.translation: grammar, word order, alignments, splits."""
from __future__ import annotations

import pytest

from course_lib.data import translation as T
from course_lib.data.vocab import UNK_ID, make_seq2seq_batch


def test_worked_example():
    tgt, alignment = T.translate("the big red dog sees a cat in the garden")
    assert tgt == "kano ruvo grom lo horto lo en miso na vidas".split()
    src = "the big red dog sees a cat in the garden".split()
    # every target word is the lexicon translation of the source word it aligns to
    for s, t in alignment:
        assert T.LEXICON[src[s]] == tgt[t]
    assert [t for _, t in alignment] == list(range(len(tgt)))


def test_word_order_rules():
    # SOV: the verb is last; adjectives follow the noun (mirrored); determiner ends the NP
    tgt, _ = T.translate(["a", "small", "green", "bird", "sleeps"])
    assert tgt == ["pio", "verda", "pik", "na", "dormi"]
    tgt, _ = T.translate("every king holds this book")
    assert tgt == ["regi", "kai", "libo", "sen", "tenas"]
    # the prepositional phrase comes before the object, with a postposition
    tgt, _ = T.translate("the boy chases a horse near the river")
    assert tgt == ["bubo", "lo", "flumo", "lo", "apud", "kabo", "na", "kasas"]


def test_alignment_is_a_crossing_permutation():
    pairs = T.generate_translations(300, seed=0)
    crossing = 0
    for p in pairs:
        assert len(p.src) == len(p.tgt) == len(p.alignment)
        assert sorted(s for s, _ in p.alignment) == list(range(len(p.src)))
        assert sorted(t for _, t in p.alignment) == list(range(len(p.tgt)))
        for s, t in p.alignment:
            assert T.LEXICON[p.src[s]] == p.tgt[t]
        pts = sorted(p.alignment)
        crossing += any(a[1] > b[1] for a, b in zip(pts, pts[1:]))
        assert T.translate(p.src) == (p.tgt, p.alignment)
    assert crossing == len(pairs), "every sentence should reorder some words"


def test_lexicon_is_a_bijection_with_invented_words():
    assert len(set(T.LEXICON.values())) == len(T.LEXICON)
    assert not set(T.LEXICON) & set(T.LEXICON.values()), "target words must differ from English"


def test_generation_is_deterministic_distinct_and_varied():
    a = T.generate_translations(1000, seed=7)
    assert a == T.generate_translations(1000, seed=7)
    assert a != T.generate_translations(1000, seed=8)
    assert len({tuple(p.src) for p in a}) == 1000
    lengths = [len(p.src) for p in a]
    assert min(lengths) == 3 and max(lengths) >= 12
    assert any(p.src[-4] in T.PREPOSITIONS or p.src[-3] in T.PREPOSITIONS for p in a)
    assert any(w in T.INTRANSITIVE_VERBS for p in a for w in p.src)
    src, tgt, alignment = a[0]  # unpacks as a triple
    assert (src, tgt, alignment) == (a[0].src, a[0].tgt, a[0].alignment)


def test_options():
    plain = T.generate_translations(200, seed=0, max_adjectives=0, pp_prob=0.0, intransitive_prob=0.0)
    assert all(len(p.src) == 5 for p in plain)
    with pytest.raises(ValueError):
        T.generate_translations(10, max_adjectives=99)


def test_splits_do_not_overlap():
    train, val, test = T.translation_splits(2000, 200, 200, seed=3)
    assert (len(train), len(val), len(test)) == (2000, 200, 200)
    keys = [{tuple(p.src) for p in x} for x in (train, val, test)]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    assert T.translation_splits(2000, 200, 200, seed=3)[1] == val


def test_ungrammatical_input_is_rejected_with_a_reason():
    with pytest.raises(ValueError, match="determiner"):
        T.translate("dog sees the cat")
    with pytest.raises(ValueError, match="noun"):
        T.translate("the big sees a cat")
    with pytest.raises(ValueError, match="verb"):
        T.translate("the dog the cat")
    with pytest.raises(ValueError, match="preposition"):
        T.translate("the dog sleeps the garden")


def test_tokenize_and_vocabs():
    assert T.tokenize("The  dog\tsleeps ") == ["the", "dog", "sleeps"]
    assert T.detokenize(["the", "dog"]) == "the dog"
    src_vocab, tgt_vocab = T.translation_vocabs()
    assert len(src_vocab) == len(tgt_vocab) == len(T.LEXICON) + 4
    pairs = T.generate_translations(200, seed=1)
    src, lengths, tgt_in, tgt_out = make_seq2seq_batch(pairs, src_vocab, tgt_vocab)
    assert (src != UNK_ID).all() and (tgt_out != UNK_ID).all()
    assert lengths.tolist() == [len(p.src) + 1 for p in pairs]
    assert tgt_vocab.decode(tgt_out[0]) == pairs[0].tgt
