"""Built-in sequence-to-sequence tasks: parallel data that needs no download and has exact answers.

Translation quality is hard to judge by eye, so tests and demos use synthetic tasks whose every
output can be checked character for character:

- ``builtin:dates`` — a date written in one of many surface forms → ISO 8601 (``2026-11-23``);
- ``builtin:ko-numbers`` — Arabic numerals ↔ their Sino-Korean reading (``2026`` ↔ ``이천이십육``),
  both directions mixed (the script of the source tells which way to go);
- ``builtin:reverse`` — a string of letters → the same letters reversed.

Each generator is a pure function of ``(num_examples, seed)``: the same seed gives the same pairs.
Sources are unique within a task, so a held-out source has never been seen in training.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from genlab.errors import GenlabError

DEFAULT_EXAMPLES = 20_000

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST_DAY = dt.date(1900, 1, 1)
DAYS_IN_RANGE = (dt.date(2099, 12, 31) - FIRST_DAY).days + 1

# One surface form of a date per function; together they cover word, numeric and Korean styles.
DATE_FORMATS: tuple[Callable[[dt.date], str], ...] = (
    lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    lambda d: f"{d.day:02d} {MONTHS[d.month - 1][:3].upper()} {d.year}",
    lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
    lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    lambda d: f"{MONTHS[d.month - 1].lower()} {d.day} {d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year}",
    lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.year}/{d.month}/{d.day}",
    lambda d: f"{d.year}{d.month:02d}{d.day:02d}",
    lambda d: f"{d.year}년 {d.month}월 {d.day}일",
    lambda d: f"{d.year}. {d.month}. {d.day}.",
)

KO_DIGITS = ("영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
KO_SMALL_UNITS = ("", "십", "백", "천")  # 10^0 .. 10^3 inside a group of four digits
KO_LARGE_UNITS = ("", "만", "억", "조")  # 10^0, 10^4, 10^8, 10^12: one per group of four digits
KO_MAX_DIGITS = 8


def date_pair(day: dt.date, form: int) -> tuple[str, str]:
    """(surface form ``form`` of ``day``, its ISO 8601 form)."""
    return DATE_FORMATS[form](day), day.isoformat()


def korean_reading(n: int) -> str:
    """The Sino-Korean reading of a non-negative integer below 10^16, as written in words.

    Standard orthography: a leading 일 is dropped before 십, 백, 천 and 만 (``10`` → 십, ``10000`` →
    만) but kept before 억 and 조 (``10^8`` → 일억); groups of four zeros are silent.
    """
    if n < 0 or n >= 10**16:
        raise ValueError(f"korean_reading covers 0 ≤ n < 10^16, got {n}")
    if n == 0:
        return KO_DIGITS[0]
    words = []
    for g in range(len(KO_LARGE_UNITS) - 1, -1, -1):
        group = (n // 10 ** (4 * g)) % 10_000
        if group == 0:
            continue
        if group == 1 and g == 1:  # 만, not 일만
            words.append(KO_LARGE_UNITS[g])
            continue
        part = ""
        for p in range(3, -1, -1):
            digit = (group // 10**p) % 10
            if digit == 0:
                continue
            part += ("" if digit == 1 and p > 0 else KO_DIGITS[digit]) + KO_SMALL_UNITS[p]
        words.append(part + KO_LARGE_UNITS[g])
    return "".join(words)


def _dates(rng: random.Random) -> tuple[str, str]:
    day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS_IN_RANGE))
    return date_pair(day, rng.randrange(len(DATE_FORMATS)))


def _ko_numbers(rng: random.Random) -> tuple[str, str]:
    digits = rng.randint(1, KO_MAX_DIGITS)  # uniform over lengths, so long numbers are not rare
    n = rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits)
    numeral, reading = str(n), korean_reading(n)
    return (numeral, reading) if rng.random() < 0.5 else (reading, numeral)


def _reverse(rng: random.Random) -> tuple[str, str]:
    word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 12)))
    return word, word[::-1]


TASKS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "dates": _dates,
    "ko-numbers": _ko_numbers,
    "reverse": _reverse,
}

#: how many distinct sources each task can produce (drawing near that many would take very long)
CAPACITY: dict[str, int] = {
    "dates": DAYS_IN_RANGE * len(DATE_FORMATS),
    "ko-numbers": 2 * 10**KO_MAX_DIGITS,
    "reverse": sum(26**k for k in range(3, 13)),
}


def generate(name: str, num_examples: int = DEFAULT_EXAMPLES, seed: int = 0) -> list[tuple[str, str]]:
    """``num_examples`` (source, target) pairs of task ``name``, with distinct sources, in a fixed order."""
    if name not in TASKS:
        raise GenlabError(f"unknown built-in task 'builtin:{name}'; available: "
                          + ", ".join(f"builtin:{t}" for t in TASKS))
    if num_examples < 1:
        raise GenlabError("--num-examples must be ≥ 1")
    if num_examples > CAPACITY[name] // 2:
        raise GenlabError(f"builtin:{name} has about {CAPACITY[name]:,} distinct examples; ask for at most "
                          f"{CAPACITY[name] // 2:,} with --num-examples")
    make = TASKS[name]
    rng = random.Random(f"genlab-{name}-{seed}")
    seen: set[str] = set()
    pairs: list[tuple[str, str]] = []
    attempts = 0
    while len(pairs) < num_examples:
        attempts += 1
        if attempts > 50 * num_examples + 1000:
            raise GenlabError(f"builtin:{name} has fewer than {num_examples:,} distinct examples; "
                              f"lower --num-examples (got {len(pairs):,})")
        src, tgt = make(rng)
        if src not in seen:
            seen.add(src)
            pairs.append((src, tgt))
    return pairs
