"""Argument types shared by several verbs: they fail with argparse's one-line error, exit 2."""

from __future__ import annotations

import argparse
import re


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer ≥ 0, got {text!r}")
    return value


def port_number(text: str) -> int:
    """A TCP port, 0–65535 (0: let the system pick a free one)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0–65535, got {text!r}")
    return value


def nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 0, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number ≥ 0, got {text!r}")
    return value


def probability(text: str) -> float:
    value = nonneg_float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$")


def duration(text: str) -> float:
    """Seconds from ``90``, ``90s``, ``10m`` or ``1.5h``."""
    match = _DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 90, 90s, 10m or 1h, got {text!r}")
    value = float(match.group(1))
    scale = {"m": 60, "min": 60, "h": 3600}.get(match.group(2) or "s", 1)
    if value <= 0:
        raise argparse.ArgumentTypeError("a duration must be positive")
    return value * scale


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="where to run (auto: CUDA, then Apple MPS, then CPU)")




#: text augmentations (genlab.augment.text) and their default strengths
TEXT_AUGMENTS = {"eda": 0.1, "jamo": 0.05, "backtranslate": None}


def augment_spec(text: str) -> str:
    """``eda``, ``eda:0.2``, ``jamo:0.05`` or ``backtranslate:RUN[+RUN]``: checked here, used by genlab.augment."""
    kind, _, value = text.partition(":")
    if kind not in TEXT_AUGMENTS:
        raise argparse.ArgumentTypeError(f"unknown augmentation {kind!r}; choose eda[:STRENGTH], jamo[:STRENGTH] "
                                         "or backtranslate:RUN")
    if kind == "backtranslate":
        if not value:
            raise argparse.ArgumentTypeError("backtranslate needs a translation run: backtranslate:RUN (or RUN+RUN "
                                             "for there and back)")
        return text
    if value:
        try:
            strength = float(value)
        except ValueError:
            strength = -1.0
        if not 0 < strength <= 0.5:
            raise argparse.ArgumentTypeError(f"{kind} strength must be a number in (0, 0.5], got {value!r}")
    return text


def add_augment_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--augment", action="append", type=augment_spec, metavar="SPEC",
                        help="text augmentation, repeatable: eda[:ALPHA] (random swap/deletion/insertion, synonyms "
                        "with --synonyms), jamo[:P] (Korean typo noise), backtranslate:RUN[+RUN] (off by default)")
    parser.add_argument("--synonyms", metavar="FILE", help="eda: synonym dictionary, one `word<TAB>syn1,syn2` a line")
    parser.add_argument("--augment-copies", type=positive_int, help="augmented copies per training text (default 1)")
