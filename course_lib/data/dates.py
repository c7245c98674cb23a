"""Human-written dates paired with their ISO form: the seq2seq task of chapters 2-3.

    "Sat, Nov 21 2026"                  -> "2026-11-21"
    "saturday the 21st of november 2026" -> "2026-11-21"
    "11/21/26"                          -> "2026-11-21"

The task is small enough to train on a laptop CPU in a minute, yet needs real
sequence-to-sequence machinery: the output is a reordering and rewriting of
parts of the input, and inputs vary a lot in length. Padding a date with
filler words (`add_filler`) makes inputs as long as we like while the output
stays ten characters; joining several dates with "and" (`several_dates`)
makes the *content* grow instead. That is how chapter 2 shows the
fixed-vector bottleneck and chapter 3 shows attention removing it.

Every format is unambiguous, so each source has exactly one right answer:
slashes with the year last are US order (month first), slashes with the year
first are ISO order, dots are European order (day first), and two-digit years
mean 1950-2049 (`yy >= 50` -> 19yy). Weekday names are computed from the date,
never drawn at random, so they are always right.

Everything is deterministic in the seed.
"""
from __future__ import annotations

import datetime as _dt
import random
from typing import Callable, Sequence

from .vocab import Vocab

__all__ = [
    "MIN_DATE", "MAX_DATE", "FORMATS", "FILLER_WORDS", "TARGET_CHARS",
    "format_date", "to_iso", "add_filler", "generate_dates", "date_splits", "several_dates", "dates_right",
    "source_chars", "target_chars", "date_vocabs",
]

MIN_DATE = _dt.date(1950, 1, 1)
MAX_DATE = _dt.date(2049, 12, 31)

MONTHS = ["January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December"]
# date.weekday(): Monday is 0
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ordinal(day: int) -> str:
    # 11th, 12th, 13th are the exceptions to the last-digit rule
    if 10 <= day % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _mon(d: _dt.date) -> str:
    return MONTHS[d.month - 1][:3]


def _month(d: _dt.date) -> str:
    return MONTHS[d.month - 1]


def _dow(d: _dt.date) -> str:
    return WEEKDAYS[d.weekday()]


def _yy(d: _dt.date) -> str:
    return f"{d.year % 100:02d}"


# name -> renderer. Names describe the pattern so `formats=[...]` reads well.
FORMATS: dict[str, Callable[[_dt.date], str]] = {
    "d month yyyy":            lambda d: f"{d.day} {_month(d)} {d.year}",
    "dow, mon d yyyy":         lambda d: f"{_dow(d)[:3]}, {_mon(d)} {d.day} {d.year}",
    "mm/dd/yy":                lambda d: f"{d.month:02d}/{d.day:02d}/{_yy(d)}",
    "dd.mm.yyyy":              lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "month dth, yyyy":         lambda d: f"{_month(d)} {_ordinal(d.day)}, {d.year}",
    "yyyy/mm/dd":              lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    "dow the dth of month yyyy": lambda d: f"{_dow(d)} the {_ordinal(d.day)} of {_month(d)} {d.year}".lower(),
    "dd-mon-yyyy":             lambda d: f"{d.day:02d}-{_mon(d)}-{d.year}",
    "m/d/yyyy":                lambda d: f"{d.month}/{d.day}/{d.year}",
    "D MONTH YYYY":            lambda d: f"{d.day} {_month(d)} {d.year}".upper(),
    "dow, d month yyyy":       lambda d: f"{_dow(d)}, {d.day} {_month(d)} {d.year}",
    "yyyymmdd":                lambda d: f"{d.year}{d.month:02d}{d.day:02d}",
    "month d yyyy":            lambda d: f"{_month(d)} {d.day} {d.year}".lower(),
    "d mon yy":                lambda d: f"{d.day} {_mon(d)} {_yy(d)}".lower(),
    "mon. dth, yyyy":          lambda d: f"{_mon(d)}. {_ordinal(d.day)}, {d.year}",
    "the dth of month, yyyy":  lambda d: f"the {_ordinal(d.day)} of {_month(d)}, {d.year}",
    "d.m.yy":                  lambda d: f"{d.day}.{d.month}.{_yy(d)}",
    "DOW MON D, YYYY":         lambda d: f"{_dow(d)[:3]} {_mon(d)} {d.day}, {d.year}".upper(),
}

# Filler for long inputs. No digits and no word that is (or abbreviates) a
# month or weekday name, so the date stays the only thing that fixes the answer.
FILLER_WORDS = (
    "a", "an", "as", "at", "be", "by", "do", "go", "in", "is", "it", "of", "on",
    "so", "to", "up", "we", "all", "and", "are", "for", "get", "let", "not",
    "our", "out", "see", "the", "was", "you", "also", "come", "date", "ever",
    "from", "have", "here", "meet", "next", "note", "once", "only", "open",
    "over", "plan", "said", "that", "them", "then", "they", "this", "time",
    "upon", "very", "when", "will", "with", "agreed", "always", "before",
    "friend", "letter", "office", "please", "remember", "arrive", "around",
    "booked", "should", "though", "travel", "visit", "window", "meeting",
    "deadline", "happened", "expected", "everyone", "delivery", "reminder",
)

TARGET_CHARS = "-0123456789"


def to_iso(d: _dt.date) -> str:
    """The target form, YYYY-MM-DD."""
    return d.isoformat()


def format_date(d: _dt.date, fmt: str) -> str:
    """Write date `d` in the format named `fmt` (a key of FORMATS)."""
    try:
        render = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown date format {fmt!r}; choose from {sorted(FORMATS)}") from None
    if not MIN_DATE <= d <= MAX_DATE:
        # two-digit years would be ambiguous outside this window
        raise ValueError(f"dates must lie in {MIN_DATE}..{MAX_DATE}, got {d}")
    return render(d)


def add_filler(source: str, length: int, rng: random.Random) -> str:
    """Surround `source` with random filler words until it is about `length` long.

    Words go before and after the date (the split is random), so a model cannot
    just look at one end of the input. The result is at most `length`
    characters and, when `length` exceeds len(source), at least `length - 1`
    (the shortest filler word plus its space is two characters).

    >>> add_filler("21.11.2026", 40, random.Random(0))   # doctest: +SKIP
    'see you at the meeting 21.11.2026 as agreed'
    """
    before: list[str] = []
    after: list[str] = []
    total = len(source)
    # Stop after a bounded number of draws; near the target only short words fit.
    for _ in range(10 * length + 10):
        room = length - total - 1  # minus the joining space
        if room < 1:
            break
        fitting = [w for w in FILLER_WORDS if len(w) <= room]
        word = rng.choice(fitting)
        (before if rng.random() < 0.5 else after).append(word)
        total += len(word) + 1
    return " ".join(before + [source] + after)


def _resolve_formats(formats: Sequence[str] | None) -> list[str]:
    if formats is None:
        return list(FORMATS)
    if isinstance(formats, str):
        formats = [formats]
    names = list(formats)
    unknown = [f for f in names if f not in FORMATS]
    if unknown or not names:
        raise ValueError(f"unknown date formats {unknown}; choose from {sorted(FORMATS)}")
    return names


def generate_dates(
    n: int,
    seed: int = 0,
    formats: Sequence[str] | None = None,
    min_len: int | None = None,
    max_len: int | None = None,
    filler: bool = False,
) -> list[tuple[str, str]]:
    """`n` distinct (source, ISO target) pairs, drawn deterministically from `seed`.

    Dates are uniform over MIN_DATE..MAX_DATE and formats uniform over
    `formats` (default: all of FORMATS).

    min_len, max_len: keep only sources whose length (in characters) lies in
        this range; bounds are inclusive, None means unbounded. Without
        filler, only dates whose formatted length already fits are kept
        (between ~6 and ~37 characters, depending on the format).
    filler: pad every source with filler words (see `add_filler`) to a length
        drawn uniformly from [min_len, max_len], which makes long inputs
        possible; max_len is then required.

    Sources are distinct, so a test set drawn with the same call holds no
    duplicates. Raises ValueError when the constraints cannot give `n`
    distinct sources.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    names = _resolve_formats(formats)
    lo = 0 if min_len is None else min_len
    hi = max_len
    if hi is not None and hi < lo:
        raise ValueError(f"max_len ({max_len}) is smaller than min_len ({min_len})")
    if filler and hi is None:
        raise ValueError("filler=True needs max_len: how long should the padded inputs be?")

    rng = random.Random(seed)
    span = (MAX_DATE - MIN_DATE).days
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    # Rejection sampling: cheap, and keeps dates uniform within each format.
    # The cap turns an impossible request into an error instead of a hang.
    max_tries = 200 * n + 20_000
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > max_tries:
            raise ValueError(
                f"could only generate {len(out)} of {n} distinct dates with length in "
                f"[{min_len}, {max_len}] (formats={names}, filler={filler}); "
                "widen the length range, allow more formats, or set filler=True"
            )
        d = MIN_DATE + _dt.timedelta(days=rng.randint(0, span))
        src = FORMATS[rng.choice(names)](d)
        if filler:
            target_len = rng.randint(max(lo, len(src)), max(hi, len(src)))
            src = add_filler(src, target_len, rng)
        if len(src) < lo or (hi is not None and len(src) > hi) or src in seen:
            continue
        seen.add(src)
        out.append((src, to_iso(d)))
    return out


def date_splits(
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int = 0,
    formats: Sequence[str] | None = None,
    min_len: int | None = None,
    max_len: int | None = None,
    filler: bool = False,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """Train, validation and test lists that never share a source string.

    The three are cut from one call to `generate_dates` (which never repeats a
    source), so no test input was seen in training. The same calendar date may
    appear in two splits written in different formats: the task is reading
    formats, and there are only ~36,500 dates. Other arguments as in
    `generate_dates`.
    """
    pairs = generate_dates(n_train + n_val + n_test, seed=seed, formats=formats,
                           min_len=min_len, max_len=max_len, filler=filler)
    return pairs[:n_train], pairs[n_train:n_train + n_val], pairs[n_train + n_val:]


def several_dates(
    n: int,
    num_dates: int | tuple[int, int] = (1, 3),
    seed: int = 0,
    formats: Sequence[str] | None = None,
) -> list[tuple[str, str]]:
    """`n` inputs of several dates joined by " and ", each with the ISO forms
    of its dates written one after the other, without a separator:

        "3.4.99 and 1 May 2020" -> "1999-04-032020-05-01"

    A longer input means more to remember (10 target characters per date),
    unlike filler, which makes the input longer but not its content.

    num_dates: how many dates per input, or an inclusive (low, high) range
        drawn uniformly for each input.
    The dates are drawn without filler from a pool of distinct formatted
    dates (so one input never holds the same string twice); `formats` as in
    `generate_dates`. Deterministic in the seed.
    """
    low, high = (num_dates, num_dates) if isinstance(num_dates, int) else num_dates
    if not 1 <= low <= high:
        raise ValueError(f"num_dates must be >= 1 (or a range 1 <= low <= high), got {num_dates}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    # 20,000 distinct strings are plenty to draw from and take under a second to make
    pool = generate_dates(min(max(4 * high * n, 1000), 20_000), seed=rng.randrange(2**31), formats=formats)
    out = []
    for _ in range(n):
        picked = rng.sample(pool, rng.randint(low, high))
        out.append((" and ".join(source for source, _ in picked), "".join(iso for _, iso in picked)))
    return out


def dates_right(outputs: Sequence[str], targets: Sequence[str]) -> float:
    """Fraction of the dates in `targets` (10 ISO characters each, as written
    by `several_dates`) that `outputs` got right in the same place.

    Partial credit for inputs of several dates: an output with the first date
    right and the second wrong scores 1 of 2, where exact match scores 0.
    """
    if len(outputs) != len(targets) or not targets:
        raise ValueError(f"need as many outputs as targets, and at least one; got {len(outputs)} and {len(targets)}")
    right = total = 0
    for output, target in zip(outputs, targets):
        for i in range(0, len(target), 10):
            right += output[i:i + 10] == target[i:i + 10]
            total += 1
    return right / total


def source_chars(include_filler: bool = True) -> list[str]:
    """Every character a source can contain, sorted.

    Found by rendering one leap year (all days, months and weekdays occur) in
    every format, so it stays right when a format is added.
    """
    chars: set[str] = set("0123456789")
    d = _dt.date(2000, 1, 1)
    while d.year == 2000:
        for render in FORMATS.values():
            chars.update(render(d))
        d += _dt.timedelta(days=1)
    if include_filler:
        chars.update(" ".join(FILLER_WORDS))
    return sorted(chars)


def target_chars() -> list[str]:
    """Every character of an ISO date: digits and '-'."""
    return sorted(TARGET_CHARS)


def date_vocabs(include_filler: bool = True) -> tuple[Vocab, Vocab]:
    """(source vocabulary, target vocabulary), character level.

    Built from the format definitions rather than from a training set, so the
    ids do not depend on which dates happened to be drawn.
    """
    return Vocab(source_chars(include_filler)), Vocab(target_chars())
