"""People's feedback on answers, kept as preference data: ``RUN/feedback.jsonl``.

The playground (and ``POST /v1/feedback``) records a 👍/👎 on one answer as ``{"prompt", "completion",
"label": true|false}`` and a pick between two answers as TRL's ``{"prompt", "chosen", "rejected"}``;
``genlab dpo RUN --data RUN/feedback.jsonl`` learns from both (a liked and a disliked answer to the same
prompt form a pair).

A line is either all there or not there. Appending in place cannot promise that: the kernel copies a
long ``write`` page by page and a SIGKILL between two pages leaves a torn line. So each record is
written to a copy of the file, synced, and renamed over it, under an exclusive lock on the run
folder (the file's own inode changes with every rename, so it cannot carry the lock). A writer
killed, interrupted or out of disk at any point leaves the previous file whole; two server
workers never lose or interleave each other's records. The copy costs a few milliseconds per
megabyte, which a click-rate of feedback never notices.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from pathlib import Path
from typing import Any

from genlab.errors import GenlabError

FEEDBACK_FILE = "feedback.jsonl"


def append_record(path: str | Path, record: dict[str, Any]) -> int:
    """Append one JSON line atomically; returns the file's size after it."""
    path = Path(path)
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    try:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise GenlabError(f"could not record feedback in {path}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):  # left by a killed writer
            stale.unlink(missing_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            size = _write_copy_with(path, tmp, line)
            os.replace(tmp, path)
            os.fsync(folder)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise GenlabError(f"could not record feedback in {path}: {exc.strerror or exc}") from exc
        return size
    finally:
        os.close(folder)  # closing releases the lock


def _write_copy_with(path: Path, tmp: Path, line: bytes) -> int:
    """Write ``path``'s whole lines plus ``line`` to ``tmp``, synced; returns the new size."""
    existed = path.exists()
    if existed:
        shutil.copyfile(path, tmp)
    with open(tmp, "r+b" if existed else "wb") as out:
        end = _end_of_whole_lines(out)
        out.truncate(end)  # a torn line from before this scheme: dropped
        out.seek(end)
        out.write(line)
        out.flush()
        os.fsync(out.fileno())
        os.fchmod(out.fileno(), 0o644)
        return end + len(line)


def _end_of_whole_lines(out: Any) -> int:
    """The offset just past the file's last newline (its size when it ends in one, as it nearly always does)."""
    pos = out.seek(0, os.SEEK_END)
    step = 1 << 16
    while pos > 0:
        start = max(0, pos - step)
        out.seek(start)
        chunk = out.read(pos - start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        pos = start
    return 0
