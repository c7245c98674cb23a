"""A toy language pair with a different word order, for attention and the Transformer.

The source is English-like, generated from a small grammar:

    sentence = NP VERB [NP] [PREP NP]          NP = DET ADJ* NOUN

The target language ("Tarvian") has its own invented words and the word order
of a head-final language:

    subject-NP  [PP-NP POSTPOSITION]  [object-NP]  VERB       NP = NOUN ADJ* DET

with adjectives after the noun in mirrored order and the determiner last:

    the big red dog sees a cat in the garden
    kano ruvo grom lo  horto lo en  miso na  vidas

Every word translates to exactly one word, so the true word alignment is a
permutation. It crosses a lot (the verb moves to the end, adjectives swap
sides of their noun), which is what makes an attention heatmap worth looking
at: a model that attends to the right source word draws this permutation, not
a diagonal. `translate` returns the alignment with the translation, so tests
and plots can compare attention against the truth.

Everything is deterministic in the seed.
"""
from __future__ import annotations

import random
from typing import NamedTuple, Sequence

from .vocab import Vocab

__all__ = [
    "LEXICON", "DETERMINERS", "ADJECTIVES", "NOUNS", "ANIMATE_NOUNS", "PLACE_NOUNS",
    "TRANSITIVE_VERBS", "INTRANSITIVE_VERBS", "PREPOSITIONS",
    "TranslationPair", "tokenize", "detokenize", "translate",
    "generate_translations", "translation_splits", "translation_vocabs",
]

DETERMINERS = {"the": "lo", "a": "na", "every": "kai", "this": "sen"}
ADJECTIVES = {
    # no word starts with a vowel, so "a" never needs to become "an"
    "big": "grom", "small": "pik", "red": "ruvo", "grey": "vesk", "young": "nali",
    "happy": "jolu", "sad": "trimo", "quick": "zefi", "quiet": "silu",
    "tall": "hoska", "green": "verda", "clever": "sagi",
}
ANIMATE_NOUNS = {
    "dog": "kano", "cat": "miso", "bird": "pio", "man": "varo", "woman": "fema",
    "child": "pupo", "teacher": "dosko", "farmer": "agro", "king": "regi",
    "girl": "tila", "boy": "bubo", "horse": "kabo",
}
THING_NOUNS = {"pear": "poma", "book": "libo", "ball": "bolo", "fish": "pesko"}
PLACE_NOUNS = {
    "house": "domo", "garden": "horto", "river": "flumo", "table": "tablo",
    "box": "kesto", "tree": "arbo",
}
NOUNS = {**ANIMATE_NOUNS, **THING_NOUNS, **PLACE_NOUNS}
TRANSITIVE_VERBS = {
    "sees": "vidas", "likes": "amas", "finds": "trovas", "takes": "prenas",
    "chases": "kasas", "carries": "portas", "watches": "spektas",
    "follows": "sekvas", "helps": "jutas", "wants": "volas", "holds": "tenas",
    "paints": "pintas",
}
INTRANSITIVE_VERBS = {
    "sleeps": "dormi", "runs": "kuri", "sings": "kanti", "waits": "atendi",
    "plays": "ludi", "jumps": "salti",
}
PREPOSITIONS = {"in": "en", "near": "apud", "under": "sub", "behind": "malan",
                "on": "sur", "with": "kun"}

LEXICON: dict[str, str] = {
    **DETERMINERS, **ADJECTIVES, **NOUNS, **TRANSITIVE_VERBS,
    **INTRANSITIVE_VERBS, **PREPOSITIONS,
}
# A bijection: the alignment of a pair is then recoverable from the words alone.
assert len(set(LEXICON.values())) == len(LEXICON)


class TranslationPair(NamedTuple):
    """One example. Unpacks as (src, tgt, alignment).

    alignment: (src_idx, tgt_idx) word positions (0-based, no special tokens),
    one per word, sorted by tgt_idx.
    """
    src: list[str]
    tgt: list[str]
    alignment: list[tuple[int, int]]


def tokenize(text: str) -> list[str]:
    """Word-level tokens: lower-cased, split on whitespace (the toy languages have no punctuation)."""
    return text.lower().split()


def detokenize(tokens: Sequence[str]) -> str:
    return " ".join(tokens)


def _parse_np(src: Sequence[str], i: int) -> tuple[list[int], int]:
    """Indices of the NP starting at i (DET ADJ* NOUN) and the index after it."""
    if i >= len(src) or src[i] not in DETERMINERS:
        got = src[i] if i < len(src) else "end of sentence"
        raise ValueError(f"expected a determiner {sorted(DETERMINERS)} at word {i}, got {got!r}")
    idx = [i]
    i += 1
    while i < len(src) and src[i] in ADJECTIVES:
        idx.append(i)
        i += 1
    if i >= len(src) or src[i] not in NOUNS:
        got = src[i] if i < len(src) else "end of sentence"
        raise ValueError(f"expected a noun at word {i}, got {got!r}")
    idx.append(i)
    return idx, i + 1


def _target_np_order(np_idx: list[int]) -> list[int]:
    # DET ADJ1 ADJ2 NOUN  ->  NOUN ADJ2 ADJ1 DET
    det, adjs, noun = np_idx[0], np_idx[1:-1], np_idx[-1]
    return [noun] + adjs[::-1] + [det]


def translate(src: Sequence[str] | str) -> tuple[list[str], list[tuple[int, int]]]:
    """Translate a grammatical source sentence; return (target tokens, alignment).

    src: tokens, or a string that is tokenized first.
    Raises ValueError, naming the offending word, for a sentence the grammar
    does not produce.
    """
    if isinstance(src, str):
        src = tokenize(src)
    subj, i = _parse_np(src, 0)
    if i >= len(src) or (src[i] not in TRANSITIVE_VERBS and src[i] not in INTRANSITIVE_VERBS):
        got = src[i] if i < len(src) else "end of sentence"
        raise ValueError(f"expected a verb at word {i}, got {got!r}")
    verb = i
    i += 1
    obj: list[int] = []
    if src[verb] in TRANSITIVE_VERBS:
        obj, i = _parse_np(src, i)
    pp: list[int] = []
    if i < len(src):
        if src[i] not in PREPOSITIONS:
            raise ValueError(f"expected a preposition {sorted(PREPOSITIONS)} at word {i}, got {src[i]!r}")
        prep = i
        pp_np, i = _parse_np(src, i + 1)
        # a postposition: the preposition moves after its noun phrase
        pp = _target_np_order(pp_np) + [prep]
    if i != len(src):
        raise ValueError(f"unexpected words after position {i}: {list(src[i:])}")

    order = _target_np_order(subj) + pp + (_target_np_order(obj) if obj else []) + [verb]
    tgt = [LEXICON[src[j]] for j in order]
    alignment = [(j, t) for t, j in enumerate(order)]
    return tgt, alignment


# Sorted once: drawing from sorted lists keeps the output independent of dict order.
_DETS, _ADJS = sorted(DETERMINERS), sorted(ADJECTIVES)
_ANIMATE, _NOUNS, _PLACES = sorted(ANIMATE_NOUNS), sorted(NOUNS), sorted(PLACE_NOUNS)
_VT, _VI, _PREPS = sorted(TRANSITIVE_VERBS), sorted(INTRANSITIVE_VERBS), sorted(PREPOSITIONS)


def _random_np(rng: random.Random, nouns: Sequence[str], max_adjectives: int) -> list[str]:
    n_adj = rng.randint(0, max_adjectives)
    adjs = rng.sample(_ADJS, n_adj)  # distinct: "the big big dog" reads wrong
    return [rng.choice(_DETS)] + adjs + [rng.choice(nouns)]


def _random_sentence(rng: random.Random, max_adjectives: int, pp_prob: float,
                     intransitive_prob: float) -> list[str]:
    words = _random_np(rng, _ANIMATE, max_adjectives)
    if rng.random() < intransitive_prob:
        words.append(rng.choice(_VI))
    else:
        words.append(rng.choice(_VT))
        words += _random_np(rng, _NOUNS, max_adjectives)
    if rng.random() < pp_prob:
        words.append(rng.choice(_PREPS))
        words += _random_np(rng, _PLACES, max_adjectives)
    return words


def generate_translations(
    n: int,
    seed: int = 0,
    max_adjectives: int = 2,
    pp_prob: float = 0.4,
    intransitive_prob: float = 0.2,
) -> list[TranslationPair]:
    """`n` distinct (src, tgt, alignment) examples, deterministic in `seed`.

    max_adjectives: each noun phrase gets 0..max_adjectives adjectives (uniform).
    pp_prob: probability of a trailing prepositional phrase.
    intransitive_prob: probability of a verb without an object.
    Sentences are 3 to 5 + 3 * (max_adjectives + 2) words long.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0 <= max_adjectives <= len(ADJECTIVES):
        raise ValueError(f"max_adjectives must be in 0..{len(ADJECTIVES)}, got {max_adjectives}")
    rng = random.Random(seed)
    seen: set[tuple[str, ...]] = set()
    out: list[TranslationPair] = []
    max_tries = 100 * n + 10_000
    for _ in range(max_tries):
        if len(out) >= n:
            break
        src = _random_sentence(rng, max_adjectives, pp_prob, intransitive_prob)
        key = tuple(src)
        if key in seen:
            continue
        seen.add(key)
        tgt, alignment = translate(src)
        out.append(TranslationPair(src, tgt, alignment))
    if len(out) < n:
        raise ValueError(f"could only generate {len(out)} of {n} distinct sentences; "
                         "allow more adjectives or prepositional phrases")
    return out


def translation_splits(
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int = 0,
    **kwargs,
) -> tuple[list[TranslationPair], list[TranslationPair], list[TranslationPair]]:
    """Train, validation and test lists with no source sentence in common.

    Cut from one `generate_translations` call (which never repeats a source);
    keyword arguments are passed on to it.
    """
    pairs = generate_translations(n_train + n_val + n_test, seed=seed, **kwargs)
    return pairs[:n_train], pairs[n_train:n_train + n_val], pairs[n_train + n_val:]


def translation_vocabs() -> tuple[Vocab, Vocab]:
    """(source vocabulary, target vocabulary), word level, from the whole lexicon.

    Built from the lexicon rather than a training set so that no test word is
    ever <unk> and the ids do not depend on the sample.
    """
    return Vocab(LEXICON.keys()), Vocab(LEXICON.values())
