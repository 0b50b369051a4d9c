"""Range checks for the numeric fields of every generator's ``Config`` (image, audio and video families).

``--set NAME=VALUE`` (and flags such as ``--lr``) can put any number into any field, and a value out of
range fails far from where it was given, or not at all: a NaN learning rate crashes inside the optimizer
after the run folder is written, while an EMA decay of 2 or a NaN gradient-penalty weight trains a model
that is silently garbage. The families share their field names (``lr``, ``lr_g``, ``beta1``, ``ema``,
``label_smoothing``, …), so one table keyed by name patterns covers them all; ``new_run`` and the CLI
check a config before anything is written, and ``sample``/``eval`` check the settings they change.

A field no pattern names gets the default rule of its type: a float is a finite weight ≥ 0 (``gp_weight``,
``mask_l1``, ``spectral``, ``clip``, ``temperature``, …), an integer a size or count ≥ 1. A new field that
may be 0 (an integer "off" switch) or must stay below a bound belongs in ``RULES``; the tests check that
every family's defaults pass, so a default the table refuses is caught at once.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from genlab.errors import GenlabError


@dataclass(frozen=True)
class Range:
    """Finite numbers from ``low`` to ``high``; ``low_open``/``high_open`` exclude the bound itself."""

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = True

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.low_open else '≥'} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


POSITIVE = Range(0, low_open=True)
NONNEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
FRACTION = Range(0, 1)  # [0, 1): a decay or probability that must leave something of the other side

#: (fnmatch pattern, allowed range), first match wins
RULES: list[tuple[str, Range]] = [
    ("lr", POSITIVE),  # learning rates: Adam refuses NaN and negatives, and 0 trains nothing
    ("lr_*", POSITIVE),
    ("beta*", FRACTION),  # Adam's moment decays
    ("ema", FRACTION),  # 1 would freeze the sampling copy at its initial weights
    ("label_smoothing", FRACTION),  # 1 would make the real target 0, the same as the fakes'
    ("dropout", FRACTION),
    ("alpha", Range(0, 0.5)),  # the flow's logit margin: 0.5 squashes every pixel to one value
    ("code_momentum", Range(0, 1, low_open=True, high_open=False)),  # 0 would never track the codes
    ("early_stop", NONNEGATIVE),  # integers where 0 means "off"
    ("kl_warmup", NONNEGATIVE),
    ("phase_shuffle", NONNEGATIVE),
    ("classes", NONNEGATIVE),
    ("object_steps", NONNEGATIVE),
    ("standing", NONNEGATIVE),
    ("griffin_lim", NONNEGATIVE),  # 0: the random starting phase alone (SpecGAN)
    ("spread_clip", POSITIVE),  # SpecGAN divides by it
]


def rule_for(name: str, default: Any) -> Range | None:
    """The range a field must lie in, or None for fields that are not numbers (bools and strings)."""
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return None
    for pattern, allowed in RULES:
        if fnmatchcase(name, pattern):
            return allowed
    return NONNEGATIVE if isinstance(default, float) else AT_LEAST_ONE


def check_settings(config_cls: type, settings: dict[str, Any], family: str) -> None:
    """Raise a one-line ``GenlabError`` for the first value of ``settings`` out of its field's range.

    Only the given fields are checked (every default is in range); names that are not fields of
    ``config_cls`` are left to the caller, which reports them with its own advice.
    """
    fields = {f.name: f.default for f in dataclasses.fields(config_cls)}
    for name, value in settings.items():
        if name not in fields or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        allowed = rule_for(name, fields[name])
        if allowed is None or allowed.holds(value):
            continue
        kind = "an integer" if isinstance(fields[name], int) else "a finite number"
        raise GenlabError(f"{family} setting {name}={value} is out of range: {name} must be {kind} {allowed} "
                          f"(default {fields[name]}); change it to a value in that range")
