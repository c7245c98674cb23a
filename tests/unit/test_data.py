"""course_lib.data: tokenizer, generated corpus, load_text, batching, algorithmic tasks."""
import re

import pytest
import torch

from course_lib.data import (
    CharTokenizer,
    generate_stories,
    load_text,
    long_range_recall_task,
    pad_sequences,
    random_lm_batch,
    sequential_lm_batches,
    split_text,
)

# --- tokenizer

def test_char_tokenizer_round_trip_and_sorted_vocab():
    tok = CharTokenizer.from_text("hello, world\n")
    assert tok.itos == sorted(set("hello, world\n"))
    assert tok.vocab_size == len(tok.itos) == len(tok)
    assert all(tok.stoi[ch] == i for i, ch in enumerate(tok.itos))
    ids = tok.encode("low hello")
    assert tok.decode(ids) == "low hello"
    assert tok.decode(torch.tensor(ids)) == "low hello"
    assert CharTokenizer.from_text("olleh").itos == CharTokenizer.from_text("hello").itos


def test_char_tokenizer_from_vocab_list_keeps_order():
    tok = CharTokenizer(["b", "a", "\n"])
    assert tok.encode("ab\n") == [1, 0, 2]
    with pytest.raises(ValueError, match="duplicate"):
        CharTokenizer(["a", "a"])


def test_char_tokenizer_names_unknown_characters():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"not in the vocabulary.*'xz'"):
        tok.encode("abzcx")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.decode([0, 7])


# --- corpus

def test_generate_stories_is_deterministic_and_seeded():
    a = generate_stories(30, seed=0)
    assert a == generate_stories(30, seed=0)
    assert a != generate_stories(30, seed=1)
    assert generate_stories(31, seed=0).startswith(a.rstrip("\n"))


def test_generate_stories_does_not_touch_global_rng():
    import random
    random.seed(123)
    before = random.random()
    random.seed(123)
    generate_stories(5)
    assert random.random() == before


def test_corpus_vocabulary_and_structure():
    text = generate_stories(400, seed=0)
    assert 150_000 < len(text) < 260_000
    chars = set(text)
    assert 40 <= len(chars) <= 60
    assert chars <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ \n.,'\"!?")
    assert {'"', "'", "?", "!", ",", "\n"} <= chars
    stories = text.strip("\n").split("\n\n")
    assert len(stories) == 400
    assert all(s.count('"') % 2 == 0 for s in stories)  # quotes are closed
    assert not re.search(r"\ba [aeiou]", text)  # "an old", never "a old"


def test_pronouns_agree_with_the_hero():
    from course_lib.data import corpus
    names = corpus.HEROINES + corpus.HEROES
    checked = 0
    for story in generate_stories(200, seed=3).split("\n\n"):
        first = story.split(".")[0]
        hero = next(n for n in names if re.search(rf"\b{n}\b", first))
        she = hero in corpus.HEROINES
        assert (" boy " not in first) if she else (" girl " not in first)
        wrong = {"he", "him", "his"} if she else {"she", "her"}
        for sentence in re.split(r"(?<=[.!?])\s+", story.replace('"', "")):
            others = [n for n in names if n != hero and n in sentence]
            if sentence.startswith(hero + " ") and not others:
                assert not wrong & set(re.findall(r"[a-z]+", sentence)), (hero, sentence)
                checked += 1
    assert checked > 100


def test_split_text_on_story_boundaries():
    text = generate_stories(20, seed=0)
    train, val = split_text(text, 0.1)
    assert train.count("\n\n") == 17 and val.count("\n\n") == 1  # 18 + 2 stories
    assert (train.rstrip("\n") + "\n\n" + val) == text
    with pytest.raises(ValueError, match="at least 2 stories"):
        split_text("one story only\n")
    with pytest.raises(ValueError, match="val_fraction"):
        split_text(text, 1.5)


# --- load_text

def test_load_text_normalises_newlines_and_bom(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"\xef\xbb\xbfline one\r\nline two\rthree\n")
    assert load_text(p) == "line one\nline two\nthree\n"
    q = tmp_path / "latin.txt"
    q.write_bytes("caf\u00e9".encode("latin-1"))
    assert load_text(q, encoding="latin-1") == "caf\u00e9"


def test_load_text_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_text(tmp_path / "missing.txt")
    (tmp_path / "inside.txt").write_text("x")
    with pytest.raises(ValueError, match="is a directory.*inside.txt"):
        load_text(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="is empty"):
        load_text(empty)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"hello\nw\xe9rld")
    with pytest.raises(ValueError, match=r"not valid utf-8.*byte offset 7 \(line 2\)"):
        load_text(bad)


# --- batching

def test_random_lm_batch_targets_are_shifted_inputs():
    data = torch.arange(100)
    x, y = random_lm_batch(data, 8, 10, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 10) and x.dtype == torch.long
    assert torch.equal(y, x + 1)  # arange: next token = token + 1
    x2, _ = random_lm_batch(data, 8, 10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)
    # the very last window is reachable and nothing reads past the end
    x, y = random_lm_batch(torch.arange(11), 4, 10)
    assert torch.equal(x[0], torch.arange(10)) and torch.equal(y[0], torch.arange(1, 11))


def test_lm_batches_reject_short_data():
    with pytest.raises(ValueError, match="too short for block_size=10"):
        random_lm_batch(torch.arange(10), 2, 10)
    with pytest.raises(ValueError, match="too short"):
        sequential_lm_batches(torch.arange(5), 2, 10)  # raised at the call, not at the first next()
    with pytest.raises(ValueError, match="1-D"):
        random_lm_batch(torch.zeros(4, 40, dtype=torch.long), 2, 10)


def test_sequential_lm_batches_cover_the_stream_once():
    data = torch.arange(95)
    batches = list(sequential_lm_batches(data, 4, 10))
    assert [x.shape[0] for x, _ in batches] == [4, 4, 1]
    xs = torch.cat([x for x, _ in batches]).flatten()
    ys = torch.cat([y for _, y in batches]).flatten()
    assert torch.equal(xs, torch.arange(90)) and torch.equal(ys, torch.arange(1, 91))


def test_pad_sequences():
    padded, lengths = pad_sequences([[1, 2, 3], torch.tensor([4]), []], pad_id=0)
    assert padded.tolist() == [[1, 2, 3], [4, 0, 0], [0, 0, 0]]
    assert lengths.tolist() == [3, 1, 0]
    time_major, _ = pad_sequences([[1, 2], [3]], pad_id=9, batch_first=False)
    assert time_major.tolist() == [[1, 3], [2, 9]]
    with pytest.raises(ValueError):
        pad_sequences([], pad_id=0)


# --- algorithmic

def test_long_range_recall_task():
    x, y = long_range_recall_task(500, 20, vocab_size=6, seed=0)
    assert x.shape == (500, 20) and y.shape == (500,)
    assert torch.equal(y, x[:, 0]) and x.max() < 6 and x.min() >= 0
    x2, _ = long_range_recall_task(500, 20, vocab_size=6, seed=0)
    assert torch.equal(x, x2)
    assert not torch.equal(x, long_range_recall_task(500, 20, vocab_size=6, seed=1)[0])
    # the distractors say nothing about the label: the last token matches it at chance rate
    assert (x[:, -1] == y).float().mean() < 0.3
