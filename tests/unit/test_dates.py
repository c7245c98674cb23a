"""course_lib.data.dates: formats, determinism, splits, length control, filler, vocab."""
from __future__ import annotations

import datetime as dt
import random

import pytest

from course_lib.data import dates as D
from course_lib.data.vocab import EOS_ID, PAD_ID, SOS_ID, UNK_ID, Vocab, make_seq2seq_batch

NOV21 = dt.date(2026, 11, 21)  # a Saturday


def test_examples_from_the_brief():
    f = lambda name: D.format_date(NOV21, name)  # noqa: E731
    assert f("d month yyyy") == "21 November 2026"
    assert f("dow, mon d yyyy") == "Sat, Nov 21 2026"
    assert f("mm/dd/yy") == "11/21/26"
    assert f("dd.mm.yyyy") == "21.11.2026"
    assert f("month dth, yyyy") == "November 21st, 2026"
    assert f("yyyy/mm/dd") == "2026/11/21"
    assert f("dow the dth of month yyyy") == "saturday the 21st of november 2026"
    assert D.to_iso(NOV21) == "2026-11-21"


def test_at_least_twelve_formats():
    assert len(D.FORMATS) >= 12
    rendered = {D.format_date(NOV21, name) for name in D.FORMATS}
    assert len(rendered) == len(D.FORMATS), "two formats render the same string"


@pytest.mark.parametrize("day,expected", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"),
                                          (11, "11th"), (12, "12th"), (13, "13th"),
                                          (21, "21st"), (22, "22nd"), (23, "23rd"), (31, "31st")])
def test_ordinals(day, expected):
    assert D.format_date(dt.date(2001, 1, day), "month dth, yyyy") == f"January {expected}, 2001"


def test_weekdays_are_correct():
    # known anchors, independent of the implementation
    assert D.format_date(dt.date(1969, 7, 20), "dow, d month yyyy") == "Sunday, 20 July 1969"
    assert D.format_date(dt.date(2000, 1, 1), "dow, d month yyyy") == "Saturday, 1 January 2000"
    rng = random.Random(1)
    for _ in range(200):
        d = D.MIN_DATE + dt.timedelta(days=rng.randint(0, (D.MAX_DATE - D.MIN_DATE).days))
        src = D.format_date(d, "dow the dth of month yyyy")
        assert src.split()[0] == d.strftime("%A").lower()


def test_every_source_has_one_answer():
    # each string any format produces for any date must map to a single ISO date;
    # a stride through the range plus both ends keeps this fast
    owner: dict[str, str] = {}
    span = (D.MAX_DATE - D.MIN_DATE).days
    days = list(range(0, span + 1, 7)) + list(range(0, 400)) + list(range(span - 400, span + 1))
    for k in days:
        d = D.MIN_DATE + dt.timedelta(days=k)
        for name in D.FORMATS:
            s = D.format_date(d, name)
            assert owner.setdefault(s, d.isoformat()) == d.isoformat(), f"{s!r} is ambiguous"


def test_numeric_formats_never_collide_over_the_whole_range():
    numeric = ["mm/dd/yy", "dd.mm.yyyy", "yyyy/mm/dd", "m/d/yyyy", "yyyymmdd", "d.m.yy"]
    owner: dict[str, dt.date] = {}
    d = D.MIN_DATE
    while d <= D.MAX_DATE:
        for name in numeric:
            s = D.FORMATS[name](d)
            assert owner.setdefault(s, d) == d, f"{s!r} is ambiguous"
        d += dt.timedelta(days=1)


def test_two_digit_years_window():
    assert D.format_date(dt.date(1950, 1, 2), "mm/dd/yy") == "01/02/50"
    assert D.format_date(dt.date(2049, 12, 31), "d mon yy") == "31 dec 49"
    with pytest.raises(ValueError, match="1950"):
        D.format_date(dt.date(2050, 1, 1), "mm/dd/yy")
    with pytest.raises(ValueError, match="unknown date format"):
        D.format_date(NOV21, "dd/mm")


def test_generate_is_deterministic_and_distinct():
    a = D.generate_dates(500, seed=3)
    assert a == D.generate_dates(500, seed=3)
    assert a != D.generate_dates(500, seed=4)
    assert len({s for s, _ in a}) == 500
    for _src, tgt in a:
        dt.date.fromisoformat(tgt)  # a valid date
        assert len(tgt) == 10


def test_targets_match_sources():
    # rebuild each target by trying every format: the source must be one rendering of it
    for src, tgt in D.generate_dates(300, seed=5):
        d = dt.date.fromisoformat(tgt)
        assert src in {r(d) for r in D.FORMATS.values()}


def test_format_selection_and_errors():
    pairs = D.generate_dates(50, seed=0, formats=["yyyymmdd"])
    assert all(len(s) == 8 and s.isdigit() for s, _ in pairs)
    with pytest.raises(ValueError, match="unknown date formats"):
        D.generate_dates(5, formats=["nope"])
    with pytest.raises(ValueError):
        D.generate_dates(-1)


def test_length_control_without_filler():
    short = D.generate_dates(300, seed=0, max_len=10)
    assert all(len(s) <= 10 for s, _ in short)
    longish = D.generate_dates(300, seed=0, min_len=25, max_len=30)
    assert all(25 <= len(s) <= 30 for s, _ in longish)
    with pytest.raises(ValueError, match="filler"):
        D.generate_dates(10, seed=0, min_len=80)


def test_length_control_with_filler():
    pairs = D.generate_dates(300, seed=0, min_len=60, max_len=80, filler=True)
    assert all(60 <= len(s) <= 80 for s, _ in pairs)
    lengths = [len(s) for s, _ in pairs]
    assert max(lengths) - min(lengths) >= 10, "lengths should spread over the range"
    with pytest.raises(ValueError, match="max_len"):
        D.generate_dates(10, filler=True)


def test_add_filler_keeps_the_date_and_hits_the_length():
    rng = random.Random(0)
    for target in range(20, 120, 7):
        out = D.add_filler("21.11.2026", target, rng)
        assert "21.11.2026" in out
        assert target - 1 <= len(out) <= target
        rest = out.replace("21.11.2026", " ").split()
        assert all(w in D.FILLER_WORDS for w in rest)
    # source already long enough: unchanged
    assert D.add_filler("21.11.2026", 5, rng) == "21.11.2026"


def test_filler_goes_on_both_sides():
    rng = random.Random(0)
    outs = [D.add_filler("X", 40, rng) for _ in range(50)]
    before = [o.index("X") for o in outs]
    assert min(before) < 10 and max(before) > 30, "filler should go before and after the date"


def test_filler_words_cannot_be_read_as_dates():
    names = {m.lower() for m in D.MONTHS} | {w.lower() for w in D.WEEKDAYS}
    names |= {n[:3] for n in names} | {"sept", "tues", "thur", "thurs", "st", "nd", "rd", "th"}
    for w in D.FILLER_WORDS:
        assert w == w.lower() and w.isalpha(), w
        assert w not in names, f"filler word {w!r} looks like part of a date"


def test_splits_share_no_source():
    train, val, test = D.date_splits(2000, 300, 300, seed=1)
    assert (len(train), len(val), len(test)) == (2000, 300, 300)
    s_tr, s_va, s_te = ({s for s, _ in x} for x in (train, val, test))
    assert not (s_tr & s_va) and not (s_tr & s_te) and not (s_va & s_te)
    assert D.date_splits(2000, 300, 300, seed=1)[2] == test
    # length options pass through
    _, _, long_test = D.date_splits(10, 10, 50, seed=1, min_len=40, max_len=60, filler=True)
    assert all(40 <= len(s) <= 60 for s, _ in long_test)


def test_vocabularies_cover_everything():
    src_vocab, tgt_vocab = D.date_vocabs()
    pairs = D.generate_dates(2000, seed=2) + D.generate_dates(300, seed=2, max_len=90, filler=True)
    for src, tgt in pairs:
        assert UNK_ID not in src_vocab.encode(src), src
        assert UNK_ID not in tgt_vocab.encode(tgt), tgt
    assert D.target_chars() == sorted("-0123456789")
    assert len(tgt_vocab) == 4 + 11
    assert set(D.source_chars(include_filler=False)) < set(D.source_chars())


def test_vocab_special_ids_and_roundtrip():
    v = Vocab.build(["hello", "world"])
    assert (v.pad_id, v.sos_id, v.eos_id, v.unk_id) == (0, 1, 2, 3) == (PAD_ID, SOS_ID, EOS_ID, UNK_ID)
    assert v.itos[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    ids = v.encode("hold!", add_sos=True)
    assert ids[0] == SOS_ID and ids[-1] == EOS_ID and ids[-2] == UNK_ID
    assert v.decode(ids) == ["h", "o", "l", "d", "<unk>"]
    assert "".join(v.decode(v.encode("hello"))) == "hello"
    # decoding stops at the first <eos> and drops <pad>/<sos>, unless asked not to
    assert v.decode([SOS_ID, v["h"], EOS_ID, v["e"], PAD_ID]) == ["h"]
    assert v.decode([SOS_ID, v["h"], EOS_ID], strip_special=False) == ["<sos>", "h", "<eos>"]
    # order of the data does not change the ids
    assert Vocab.build(["world", "hello"]).itos == v.itos
    assert Vocab.build([["a", "b"], ["a"]], min_freq=2).itos == ["<pad>", "<sos>", "<eos>", "<unk>", "a"]


def test_make_seq2seq_batch_shift_and_padding():
    src_vocab, tgt_vocab = D.date_vocabs()
    pairs = [("1.2.26", "2026-02-01"), ("21 November 2026", "2026-11-21")]
    src, lengths, tgt_in, tgt_out = make_seq2seq_batch(pairs, src_vocab, tgt_vocab)
    assert src.shape == (2, 17) and lengths.tolist() == [7, 17]
    assert (src[0, 7:] == PAD_ID).all() and src[0, 6] == EOS_ID
    assert tgt_in.shape == tgt_out.shape == (2, 11)
    assert (tgt_in[:, 0] == SOS_ID).all() and (tgt_out[:, -1] == EOS_ID).all()
    assert (tgt_in[:, 1:] == tgt_out[:, :-1]).all(), "tgt_in must be tgt_out shifted right by one"
    assert "".join(tgt_vocab.decode(tgt_out[1])) == "2026-11-21"
    src2, lengths2, _, _ = make_seq2seq_batch(pairs, src_vocab, tgt_vocab, src_eos=False)
    assert lengths2.tolist() == [6, 16]


def test_several_dates_join_sources_and_concatenate_targets():
    pairs = D.several_dates(300, (1, 3), seed=4)
    assert pairs == D.several_dates(300, (1, 3), seed=4), "not deterministic in the seed"
    counts = set()
    for source, target in pairs:
        parts = source.split(" and ")
        counts.add(len(parts))
        assert len(target) == 10 * len(parts)
        assert len(set(parts)) == len(parts), "one input repeats a date string"
        for i, part in enumerate(parts):
            # each part is one rendering of the date written in its 10-character slice of the target
            d = dt.date.fromisoformat(target[10 * i:10 * i + 10])
            assert part in {render(d) for render in D.FORMATS.values()}, (part, target)
    assert counts == {1, 2, 3}


def test_several_dates_fixed_count_and_vocabulary():
    src_vocab, tgt_vocab = D.date_vocabs()
    for source, target in D.several_dates(50, 2, seed=0):
        assert source.count(" and ") >= 1 and len(target) == 20
        assert UNK_ID not in src_vocab.encode(source), f"{source!r} has characters outside the vocabulary"
    with pytest.raises(ValueError, match="num_dates"):
        D.several_dates(3, 0)
    with pytest.raises(ValueError, match="num_dates"):
        D.several_dates(3, (3, 2))


def test_dates_right_counts_each_date_in_place():
    targets = ["1999-04-032020-05-01", "2001-01-01"]
    assert D.dates_right(targets, targets) == 1.0
    assert D.dates_right(["1999-04-032020-05-02", "2001-01-01"], targets) == 2 / 3
    # a date written in the wrong slot does not count
    assert D.dates_right(["2020-05-011999-04-03", "2001-01-01x"], targets) == 1 / 3
    assert D.dates_right(["1999-04-03", ""], targets) == 1 / 3
    with pytest.raises(ValueError):
        D.dates_right(["a"], targets)
