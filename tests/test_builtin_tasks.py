"""Built-in seq2seq tasks: deterministic, distinct sources, and answers that check out exactly."""

from __future__ import annotations

import datetime as dt

import pytest

from genlab.builtin_tasks import DATE_FORMATS, TASKS, date_pair, generate, korean_reading
from genlab.errors import GenlabError


@pytest.mark.parametrize("n, reading", [
    (0, "영"), (1, "일"), (10, "십"), (11, "십일"), (20, "이십"), (100, "백"), (101, "백일"), (1000, "천"),
    (2026, "이천이십육"), (10000, "만"), (10001, "만일"), (20000, "이만"), (110000, "십일만"),
    (12345678, "천이백삼십사만오천육백칠십팔"), (100000000, "일억"), (100010000, "일억만"),
    (300000005, "삼억오"),
])
def test_korean_reading_follows_standard_orthography(n, reading):
    assert korean_reading(n) == reading


def _parse_korean(text: str) -> int:
    """An independent reader of Sino-Korean numerals (inverse of korean_reading) for round-trip checks."""
    digits = {d: i for i, d in enumerate("영일이삼사오육칠팔구")}
    small = {"십": 10, "백": 100, "천": 1000}
    large = {"만": 10**4, "억": 10**8, "조": 10**12}
    total = group = digit = 0
    for ch in text:
        if ch in digits:
            digit = digits[ch]
        elif ch in small:
            group += (digit or 1) * small[ch]
            digit = 0
        else:
            total += ((group + digit) or 1) * large[ch]
            group = digit = 0
    return total + group + digit


def test_ko_numbers_pairs_are_exact_in_both_directions():
    pairs = generate("ko-numbers", 2000, seed=3)
    directions = {"to_korean": 0, "to_numerals": 0}
    for src, tgt in pairs:
        if src.isdigit():
            directions["to_korean"] += 1
            assert _parse_korean(tgt) == int(src) and korean_reading(int(src)) == tgt
        else:
            directions["to_numerals"] += 1
            assert tgt.isdigit() and _parse_korean(src) == int(tgt)
    assert min(directions.values()) > 800


def test_dates_map_every_surface_form_to_the_iso_date():
    day = dt.date(2026, 11, 23)
    forms = [date_pair(day, f) for f in range(len(DATE_FORMATS))]
    assert {t for _, t in forms} == {"2026-11-23"}
    assert [s for s, _ in forms] == [
        "November 23, 2026", "Nov 23, 2026", "23 November 2026", "23 NOV 2026", "Monday, November 23, 2026",
        "Mon 23 Nov 2026", "november 23 2026", "11/23/2026", "11/23/2026", "23.11.2026", "2026/11/23", "20261123",
        "2026년 11월 23일", "2026. 11. 23.",
    ]
    assert date_pair(dt.date(1905, 3, 7), 8)[0] == "03/07/1905" and date_pair(dt.date(1905, 3, 7), 7)[0] == "3/7/1905"
    for src, tgt in generate("dates", 500, seed=1):
        iso = dt.date.fromisoformat(tgt)
        assert src in {date_pair(iso, f)[0] for f in range(len(DATE_FORMATS))}
        assert 1900 <= iso.year <= 2099


def test_reverse_task():
    for src, tgt in generate("reverse", 200, seed=0):
        assert tgt == src[::-1] and src.isalpha()


@pytest.mark.parametrize("name", sorted(TASKS))
def test_generation_is_deterministic_with_distinct_sources(name):
    a, b, c = generate(name, 300, seed=5), generate(name, 300, seed=5), generate(name, 300, seed=6)
    assert a == b and a != c
    assert len({s for s, _ in a}) == 300


def test_unknown_task_and_impossible_sizes_are_clear_errors():
    with pytest.raises(GenlabError, match="builtin:dates"):
        generate("nope", 10)
    with pytest.raises(GenlabError, match="--num-examples"):
        generate("dates", 10**7)  # more than the distinct (day, form) pairs it can draw
