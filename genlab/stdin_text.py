"""Lines of UTF-8 text from stdin, where a binary or mis-encoded input is a one-line error.

Python's text-mode stdin would raise ``UnicodeDecodeError`` somewhere in a loop (a traceback) or, with
a lenient error handler, read garbage as text and score it; the bytes are decoded here line by line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

from genlab.errors import GenlabError


def stdin_lines() -> Iterator[str]:
    """Each line of stdin without its line ending; a NUL byte or invalid UTF-8 names the line."""
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        yield decode_line(raw, f"stdin line {number}")


def decode_line(raw: bytes, where: str) -> str:
    if b"\x00" in raw:
        raise GenlabError(f"{where} contains a NUL byte: pass UTF-8 text")
    try:
        return raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise GenlabError(f"{where} is not valid UTF-8 (byte {exc.start}); convert the input to UTF-8") from exc
