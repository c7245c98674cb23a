"""course_lib.data.tokenizers: byte-level BPE (the merge step, training, encode/decode, JSON files)."""
import json
import random

import pytest
import torch

from course_lib.data import BPETokenizer, generate_stories
from course_lib.data.tokenizers import SPLIT_PATTERN, count_pairs, merge, most_frequent_pair

a, b, c, d = (ord(ch) for ch in "abcd")  # 97, 98, 99, 100


@pytest.fixture(scope="module")
def stories():
    return generate_stories(60, seed=3)


@pytest.fixture(scope="module")
def tok(stories):
    return BPETokenizer.train(stories, vocab_size=400)


# --------------------------------------------------------------------------- the merge step


def test_count_pairs_counts_overlapping_adjacent_pairs():
    assert count_pairs([5, 6, 5, 6, 7]) == {(5, 6): 2, (6, 5): 1, (6, 7): 1}
    assert count_pairs([1, 1, 1]) == {(1, 1): 2}
    assert count_pairs([4]) == {} and count_pairs([]) == {}


def test_count_pairs_accumulates_with_weights():
    counts = count_pairs([1, 2, 3])
    same = count_pairs([2, 3], counts, weight=5)
    assert same is counts
    assert counts == {(1, 2): 1, (2, 3): 6}


def test_merge_replaces_left_to_right_without_overlap():
    assert merge([5, 6, 5, 6, 7], (5, 6), 300) == [300, 300, 7]
    assert merge([1, 1, 1], (1, 1), 9) == [9, 1]
    assert merge([1, 1, 1, 1], (1, 1), 9) == [9, 9]
    assert merge([7, 5, 6], (5, 6), 300) == [7, 300]  # a pair at the very end
    assert merge([6, 5], (5, 6), 300) == [6, 5]  # order matters
    ids = [1, 2, 3]
    assert merge(ids, (4, 4), 9) == [1, 2, 3] and ids == [1, 2, 3]  # input untouched


def test_most_frequent_pair_breaks_ties_by_smallest_pair():
    assert most_frequent_pair({(3, 4): 2, (1, 9): 5, (0, 0): 1}) == (1, 9)
    assert most_frequent_pair({(3, 4): 2, (2, 9): 2, (2, 5): 2}) == (2, 5)
    with pytest.raises(ValueError, match="no pairs"):
        most_frequent_pair({})


# --------------------------------------------------------------------------- training


def test_known_example_by_hand():
    # "aaabdaaabac" (one chunk) as bytes a a a b d a a a b a c:
    #   (a, a) occurs 4 times                         -> 256 = "aa":  256 a b d 256 a b a c
    #   (256, a) and (a, b) occur twice: tie -> the smaller pair (a, b) -> 257 = "ab"
    #                                                                   256 257 d 256 257 a c
    #   (256, 257) twice                              -> 258 = "aaab": 258 d 258 a c
    #   all four pairs once: smallest is (a, c)       -> 259 = "ac":   258 d 258 259
    tok = BPETokenizer.train("aaabdaaabac", vocab_size=260)
    assert tok.merges == [(a, a), (a, b), (256, 257), (a, c)]
    assert tok.encode("aaabdaaabac") == [258, d, 258, 259]
    assert tok.vocab[258] == b"aaab" and tok.vocab_size == 260


def test_training_is_deterministic_and_independent_of_text_order(stories):
    first = BPETokenizer.train(stories, 350)
    assert first == BPETokenizer.train(stories, 350)
    # The counts, and so the merges, do not depend on the order of the stories.
    reordered = "\n\n".join(reversed(stories.strip("\n").split("\n\n"))) + "\n"
    assert BPETokenizer.train(reordered, 350).merges == first.merges


def test_merges_shorten_the_text(stories):
    n_bytes = len(stories.encode("utf-8"))
    lengths = [len(BPETokenizer.train(stories, size).encode(stories)) for size in (256, 300, 400, 600)]
    assert lengths[0] == n_bytes  # no merges: one token per byte
    assert all(x > y for x, y in zip(lengths, lengths[1:])), f"more merges must shorten the text: {lengths}"
    assert lengths[-1] < n_bytes / 2.5


def test_encode_equals_applying_the_merges_in_order(stories, tok):
    import re

    for chunk in sorted(set(re.findall(SPLIT_PATTERN, stories)))[:200] + ["unseen wordsß"]:
        for piece in re.findall(SPLIT_PATTERN, chunk):
            ids = list(piece.encode("utf-8"))
            for rank, pair in enumerate(tok.merges):
                ids = merge(ids, pair, 256 + rank)
            assert tok._encode_chunk(piece) == ids, piece


def test_merges_stay_inside_chunks(tok):
    # no token spans the end of a word and the next space, nor a word and its full stop
    for token in tok.vocab[256:]:
        text = token.decode("utf-8", errors="replace")
        assert not text.endswith(" ") or not text.strip(), text
        assert not (text[:1].isalpha() and text.endswith(".")), text


def test_without_split_pattern_merges_cross_spaces():
    tok = BPETokenizer.train("the cat. " * 50, vocab_size=270, pattern=None)
    assert any(b" " in t.strip(b" ") or t.endswith(b" ") for t in tok.vocab[256:])
    assert tok.decode(tok.encode("the cat. the dog")) == "the cat. the dog"


def test_training_stops_early_when_every_chunk_is_one_token():
    tok = BPETokenizer.train("ab ab ab", vocab_size=1000)
    assert tok.merges == [(a, b), (32, 256)]
    assert tok.vocab_size == 258
    assert tok.encode("ab ab") == [256, 257]


def test_bad_training_arguments():
    with pytest.raises(ValueError, match="at least 256"):
        BPETokenizer.train("hello", 200)
    with pytest.raises(ValueError, match="non-empty"):
        BPETokenizer.train("", 300)
    with pytest.raises(ValueError, match="exist before"):
        BPETokenizer([(97, 300)])


# --------------------------------------------------------------------------- encode / decode


def _random_text(rng: random.Random, n: int) -> str:
    ranges = [(0x20, 0x7E), (0x0, 0x1F), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x300, 0x36F),
              (0x4E00, 0x9FFF), (0x1F300, 0x1FAFF), (0xE000, 0xF8FF), (0x10000, 0x10FFFF)]
    out = []
    for _ in range(n):
        lo, hi = rng.choice(ranges)
        out.append(chr(rng.randint(lo, hi)))  # never a lone surrogate (not valid UTF-8)
    return "".join(out)


def test_round_trip_any_unicode(tok):
    rng = random.Random(0)
    for n in [0, 1, 2, 5, 40, 300]:
        for _ in range(20):
            text = _random_text(rng, n)
            ids = tok.encode(text)
            assert tok.decode(ids) == text
            assert all(0 <= i < tok.vocab_size for i in ids)
    for text in ["Once upon a time, there was a girl named Anna.\n", "naïve café 日本語 🙂\r\n\t x", " " * 7, "\x00"]:
        assert tok.decode(tok.encode(text)) == text


def test_unseen_characters_fall_back_to_bytes(tok):
    assert tok.encode("é") == [0xC3, 0xA9]
    assert tok.tokens("日") == ["\ufffd"] * 3  # three bytes, none a character alone
    assert tok.decode([0xE6, 0x97]) == "\ufffd"  # a cut-off character does not raise


def test_tokens_and_decode_inputs(tok):
    text = "Once upon a time"
    assert "".join(tok.tokens(text)) == text
    assert tok.decode(torch.tensor(tok.encode(text))) == text
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([tok.vocab_size])
    with pytest.raises(ValueError, match="1-D"):
        tok.decode(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(TypeError):
        tok.encode(b"bytes")


def test_special_tokens_get_the_last_ids_and_are_never_encoded_from_text():
    tok = BPETokenizer.train("hello world " * 10, vocab_size=262, special_tokens=["<|endoftext|>", "[MASK]"])
    assert tok.vocab_size == 262 and len(tok.merges) == 4
    assert tok.special_tokens == {"<|endoftext|>": 260, "[MASK]": 261}
    ids = tok.encode("hi<|endoftext|>")
    assert 260 not in ids and tok.decode(ids) == "hi<|endoftext|>"
    assert tok.decode([260, *tok.encode(" world")]) == "<|endoftext|> world"
    with pytest.raises(ValueError, match="distinct"):
        BPETokenizer([], special_tokens=["x", "x"])


# --------------------------------------------------------------------------- files


def test_save_and_load_json(tmp_path, tok, stories):
    path = tmp_path / "tok.json"
    tok.save(path)
    data = json.loads(path.read_text())  # plain JSON, no pickle
    assert data["merges"][0] == list(tok.merges[0])
    loaded = BPETokenizer.load(path)
    assert loaded == tok
    assert loaded.encode(stories[:500]) == tok.encode(stories[:500])


def test_load_refuses_other_files(tmp_path, tok):
    bad = tmp_path / "bad.json"
    bad.write_text('{"merges": []}')
    with pytest.raises(ValueError, match="not a course_lib BPE tokenizer"):
        BPETokenizer.load(bad)
    bad.write_text("not json")
    with pytest.raises(ValueError, match="not a JSON tokenizer"):
        BPETokenizer.load(bad)
    data = tok.to_dict()
    data["merges"][3] = [0, 5000]
    with pytest.raises(ValueError, match="merge 3"):
        BPETokenizer.from_dict(data)
