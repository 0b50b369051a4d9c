"""Feedback records are appended whole: killed writers, torn files from before, a full disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genlab.errors import GenlabError
from genlab.tuning import feedback
from genlab.tuning.feedback import append_record

WRITER = """
import sys
from genlab.tuning.feedback import append_record
i = 0
while True:
    append_record(sys.argv[1], {"prompt": "p" * 5000, "chosen": "a" * (i % 3000 + 1), "rejected": "b", "i": i})
    i += 1
"""


def test_feedback_append_survives_a_killed_writer(tmp_path: Path):
    path = tmp_path / "feedback.jsonl"
    append_record(path, {"prompt": "", "chosen": "x", "rejected": "y"})
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        time.sleep(0.8)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    raw = path.read_bytes()
    assert raw.endswith(b"\n")

    lines = raw.decode("utf-8").splitlines()
    assert len(lines) > 3
    assert all(isinstance(json.loads(line), dict) for line in lines)  # no half-written line anywhere


def test_append_returns_size_and_keeps_order(tmp_path: Path):
    path = tmp_path / "feedback.jsonl"
    sizes = [append_record(path, {"i": i, "text": "좋아요"}) for i in range(3)]
    raw = path.read_bytes()
    assert sizes[-1] == len(raw) and sizes == sorted(sizes)
    assert [json.loads(line)["i"] for line in raw.decode().splitlines()] == [0, 1, 2]
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_a_torn_line_from_an_older_writer_is_dropped_and_stale_copies_removed(tmp_path: Path):
    path = tmp_path / "feedback.jsonl"
    path.write_bytes(b'{"i": 0}\n{"i": 1, "pro')
    (tmp_path / ".feedback.jsonl.99999.tmp").write_bytes(b"half")
    append_record(path, {"i": 2})
    assert path.read_bytes() == b'{"i": 0}\n{"i": 2}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedback.jsonl"]


def test_a_full_disk_leaves_the_previous_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "feedback.jsonl"
    append_record(path, {"i": 0})

    def no_space(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(feedback.os, "fsync", no_space)
    with pytest.raises(GenlabError, match="could not record feedback .*No space left"):
        append_record(path, {"i": 1})
    assert path.read_bytes() == b'{"i": 0}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feedback.jsonl"]


COUNTED_WRITER = """
import sys
from genlab.tuning.feedback import append_record
for i in range(40):
    append_record(sys.argv[1], {"writer": sys.argv[2], "i": i})
"""


def test_two_writers_at_once_lose_nothing(tmp_path: Path):
    path = tmp_path / "feedback.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", COUNTED_WRITER, str(path), name]) for name in "ab"]
    assert [proc.wait(timeout=60) for proc in procs] == [0, 0]
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for name in "ab":
        assert [r["i"] for r in records if r["writer"] == name] == list(range(40))


def test_a_missing_run_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(GenlabError, match="could not record feedback .*No such file"):
        append_record(tmp_path / "gone" / "feedback.jsonl", {"i": 0})
