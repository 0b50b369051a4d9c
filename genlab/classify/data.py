"""Labelled text: ``label<TAB>text`` TSV, or the NSMC layout (header ``id<TAB>document<TAB>label``).

Every problem is reported with its line number, so a file of 150,000 reviews can be fixed by hand:
a missing tab, an empty label, invalid UTF-8, a binary file. Lines whose *text* is empty (NSMC has
a few) are skipped and counted, since there is nothing to classify.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genlab.errors import GenlabError

NSMC_HEADER = ("id", "document", "label")


@dataclass
class LabelledData:
    texts: list[str]
    labels: list[str]  # one label name per text
    skipped: int = 0  # lines with an empty text

    def __len__(self) -> int:
        return len(self.texts)

    def classes(self) -> list[str]:
        return sorted(set(self.labels), key=_label_key)

    def subset(self, index: Sequence[int] | np.ndarray) -> LabelledData:
        return LabelledData([self.texts[i] for i in index], [self.labels[i] for i in index])

    def __add__(self, other: LabelledData) -> LabelledData:
        return LabelledData(self.texts + other.texts, self.labels + other.labels, self.skipped + other.skipped)


def _label_key(label: str) -> tuple[int, float | str]:
    """Numeric labels in numeric order ("0" < "1" < "10"), then the others alphabetically."""
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def read_lines(path: str | Path, what: str) -> list[tuple[int, str]]:
    """(line number, line) of a UTF-8 text file; a missing, empty, binary or non-UTF-8 file is a clear error."""
    path = Path(path)
    if not path.exists():
        raise GenlabError(f"{what} {path} not found")
    if not path.is_file():
        raise GenlabError(f"{what} {path} is not a file")
    raw = path.read_bytes()
    if not raw.strip():
        raise GenlabError(f"{what} {path} is empty")
    if b"\0" in raw:
        line = raw[:raw.index(b"\0")].count(b"\n") + 1
        raise GenlabError(f"{what} {path}:{line}: a NUL byte — this is a binary file, not UTF-8 text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise GenlabError(f"{what} {path}:{line}: invalid UTF-8 (byte {raw[exc.start]:#04x}); save the file as "
                          "UTF-8") from None
    return [(i, line.rstrip("\r")) for i, line in enumerate(text.split("\n"), start=1)]


def load_labelled(path: str | Path, what: str = "--data", min_classes: int = 2) -> LabelledData:
    """Read a label file in either layout (the NSMC header decides); ``min_classes`` classes are needed."""
    lines = read_lines(path, what)
    first = next((line for _, line in lines if line.strip()), "")
    nsmc = tuple(first.split("\t")) == NSMC_HEADER
    texts, labels, skipped = [], [], 0
    for number, line in lines:
        if not line.strip():
            continue
        if nsmc:
            if line == first and not texts and not skipped:
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                raise GenlabError(f"{path}:{number}: expected 3 tab-separated fields (id, document, label), got "
                                  f"{len(fields)}")
            _, text, label = fields
        else:
            label, tab, text = line.partition("\t")
            if not tab:
                raise GenlabError(f"{path}:{number}: expected `label<TAB>text`, found no tab")
        label, text = label.strip(), text.strip()
        if not label:
            raise GenlabError(f"{path}:{number}: the label is empty")
        if not text:
            skipped += 1
            continue
        texts.append(text)
        labels.append(label)
    if not texts:
        raise GenlabError(f"{what} {path} holds no labelled text")
    data = LabelledData(texts, labels, skipped)
    if len(data.classes()) < min_classes:
        raise GenlabError(f"{what} {path} has only the label {data.classes()[0]!r}; a classifier needs ≥ 2 classes")
    return data


def load_texts(path: str | Path) -> list[str]:
    """Lines to classify (``predict``): every non-empty line of a UTF-8 file."""
    return [line.strip() for _, line in read_lines(path, "input") if line.strip()]


def validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val): a seeded shuffle, ``fraction`` held out (at least one each way)."""
    if n < 2:
        raise GenlabError("a classifier needs at least 2 labelled texts (one to train on, one to validate)")
    order = np.random.default_rng([seed, 3]).permutation(n)
    n_val = min(n - 1, max(1, round(n * fraction)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])
