"""course_lib.data.algorithmic: the copy, reverse and sort tasks."""
import pytest

from course_lib.data import copy_task, reverse_task, sequence_task, sequence_task_splits, sort_task, symbol_vocab
from course_lib.data.algorithmic import SYMBOLS
from course_lib.data.vocab import make_seq2seq_batch


def test_the_rules():
    for src, tgt in copy_task(50, seed=1):
        assert tgt == src
    for src, tgt in reverse_task(50, seed=1):
        assert tgt == src[::-1]
    for src, tgt in sort_task(50, num_symbols=16, seed=1):
        assert tgt == sorted(src, key=SYMBOLS.index) and sorted(tgt) == sorted(src)
    # "sort" orders by symbol id, so digits come before letters
    assert sort_task(200, num_symbols=12, seed=0, min_len=8, max_len=8)[0][1][0] < "a"


def test_lengths_symbols_distinct_and_deterministic():
    pairs = sequence_task("reverse", 500, min_len=2, max_len=6, num_symbols=5, seed=3)
    assert len(pairs) == 500
    assert {len(src) for src, _ in pairs} == {2, 3, 4, 5, 6}
    assert set("".join("".join(src) for src, _ in pairs)) == set("01234")
    assert len({tuple(src) for src, _ in pairs}) == 500, "sources must be distinct"
    assert pairs == sequence_task("reverse", 500, min_len=2, max_len=6, num_symbols=5, seed=3)
    assert pairs != sequence_task("reverse", 500, min_len=2, max_len=6, num_symbols=5, seed=4)
    # the same seed gives the same sources whatever the task
    assert [s for s, _ in copy_task(20, seed=7)] == [s for s, _ in reverse_task(20, seed=7)]


def test_splits_share_no_source():
    train, val, test = sequence_task_splits("copy", 300, 50, 80, seed=0, min_len=3, max_len=5)
    assert (len(train), len(val), len(test)) == (300, 50, 80)
    sources = [tuple(s) for s, _ in train + val + test]
    assert len(set(sources)) == len(sources)


def test_vocab_and_batching():
    vocab = symbol_vocab(12)
    assert len(vocab) == 4 + 12 and "b" in vocab and "c" not in vocab
    src, lengths, tgt_in, tgt_out = make_seq2seq_batch(reverse_task(4, seed=0), vocab, vocab)
    assert src.shape[0] == 4 and (tgt_in[:, 0] == vocab.sos_id).all()
    assert vocab.decode(tgt_out[0]) == reverse_task(4, seed=0)[0][1]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="task"):
        sequence_task("shuffle", 10)
    with pytest.raises(ValueError, match="min_len"):
        sequence_task("copy", 10, min_len=5, max_len=3)
    with pytest.raises(ValueError, match="num_symbols"):
        sequence_task("copy", 10, num_symbols=1)
    with pytest.raises(ValueError, match="distinct"):
        sequence_task("copy", 100, min_len=1, max_len=2, num_symbols=3)
    with pytest.raises(ValueError, match="num_symbols"):
        symbol_vocab(37)
