"""Reading a JSONL data file line by line, the way every tuning data format wants it read.

Blank lines are skipped; a NUL byte means a binary file; invalid UTF-8 and invalid JSON are errors that
name the file and line; each record is handed to a parser that raises ``GenlabError`` with the same
``file:line`` prefix. With ``skip_bad_lines`` such lines are counted, the first one is reported on
stderr, and the rest of the file is kept.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from genlab.errors import GenlabError

T = TypeVar("T")


def numbered_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a UTF-8 file (a byte-order mark is dropped)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GenlabError(f"cannot read {path}: {exc.strerror or exc}") from exc
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise GenlabError(f"{path} looks binary (NUL byte at offset {nul}); pass a UTF-8 JSONL file")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise GenlabError(f"{path}:{number}: not valid UTF-8 (byte {exc.start} of the line); "
                              "convert the file to UTF-8") from exc
        yield number, text


def read_records(path: str | Path, parse: Callable[[Any, str], T], what: str, skip_bad_lines: bool = False) -> list[T]:
    """``parse(record, "file:line")`` for every non-blank line of a JSONL file."""
    path = Path(path)
    if path.is_dir():
        raise GenlabError(f"{what} {path} is a directory; pass a JSONL file (one JSON object per line)")
    if not path.is_file():
        raise GenlabError(f"{what} {path} not found; pass a JSONL file")
    out: list[T] = []
    skipped: list[str] = []
    for number, text in numbered_lines(path):
        if not text.strip():
            continue
        where = f"{path}:{number}"
        try:
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                raise GenlabError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})") from exc
            out.append(parse(record, where))
        except GenlabError as exc:
            if not skip_bad_lines:
                raise GenlabError(f"{exc}; fix it or pass --skip-bad-lines") from exc
            skipped.append(str(exc))
    if skipped:
        print(f"genlab: skipped {len(skipped)} bad line(s) of {path}; first: {skipped[0]}", file=sys.stderr)
    return out
