"""People's feedback on answers, kept as preference data: ``RUN/feedback.jsonl``.

The playground (and ``POST /v1/feedback``) records a 👍/👎 on one answer as ``{"prompt", "completion",
"label": true|false}`` and a pick between two answers as TRL's ``{"prompt", "chosen", "rejected"}``;
``genlab dpo RUN --data RUN/feedback.jsonl`` learns from both (a liked and a disliked answer to the same
prompt form a pair).

Each record is one line written by one ``write`` call on a file opened for appending, under an
exclusive lock: a line is either all there or not there — a writer killed or interrupted mid-way
never leaves half a line, and two server workers never interleave theirs. If the disk fills during
the write, the partial line is cut off again.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError

FEEDBACK_FILE = "feedback.jsonl"


def append_record(path: str | Path, record: dict[str, Any]) -> int:
    """Append one JSON line atomically; returns the file's size after it."""
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        start = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(28, "short write (disk full?)")
            os.fsync(fd)
        except OSError as exc:
            os.ftruncate(fd, start)  # no half line stays behind
            raise GenlabError(f"could not record feedback in {path}: {exc.strerror or exc}") from exc
        return start + len(line)
    finally:
        os.close(fd)  # closing releases the lock
