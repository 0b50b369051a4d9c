"""`genlab prepare` through the real command line: results, and every validation error as one line + exit 2."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

KOREAN_LINES = [f"{i}번째 문장: 생성형 인공지능은 다음 토큰을 예측합니다. token {i}" for i in range(60)]


def genlab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "GENLAB_VERBOSE"}
    return subprocess.run([sys.executable, "-m", "genlab", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


def assert_user_error(proc: subprocess.CompletedProcess, pattern: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr  # one line, no traceback, no leftover progress bar
    assert lines[0].startswith("genlab: error: ")
    assert re.search(pattern, lines[0]), lines[0]
    assert proc.stdout == ""


@pytest.fixture
def korean(tmp_path) -> Path:
    folder = tmp_path / "ko"
    folder.mkdir()
    (folder / "a.txt").write_text("\n".join(KOREAN_LINES[:30]) + "\n", encoding="utf-8")
    (folder / "b.txt").write_text("\r\n".join(KOREAN_LINES[30:]), encoding="utf-8")
    return folder


def test_prepare_writes_a_run_directory(tmp_path, korean):
    proc = genlab("prepare", "--corpus", str(korean), "--unit", "line", "--tokenizer", "bpe", "--vocab-size", "300",
                  "--out", "runs/ko", "--seed", "3", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("prepared runs/ko: tokenizer bpe (vocab 300), 60 documents")
    run = tmp_path / "runs" / "ko"
    meta = json.loads((run / "meta.json").read_text(encoding="utf-8"))
    assert meta["corpus"]["documents"] == 60 and meta["config"]["seed"] == 3
    for split in ("train", "val", "test"):
        data = np.fromfile(run / f"{split}.bin", dtype=meta["dtype"])
        assert len(data) == meta["splits"][split]["tokens"] > 0
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_builtin_corpus_and_help(tmp_path):
    proc = genlab("prepare", "--corpus", "builtin:pydoc", "--out", "r", "--tokenizer", "char", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "tokenizer char" in proc.stdout and proc.stderr == ""
    helped = genlab("--help", cwd=tmp_path)
    assert helped.returncode == 0 and "prepare" in helped.stdout


def test_missing_path(tmp_path):
    proc = genlab("prepare", "--corpus", "nope.txt", "--out", "r", cwd=tmp_path)
    assert_user_error(proc, r"corpus nope\.txt not found: pass a text file, a folder, a glob, or builtin:pydoc")


@pytest.mark.parametrize("content", [b"", b"  \n\t\n\n"])
def test_empty_corpus(tmp_path, content):
    (tmp_path / "e.txt").write_bytes(content)
    proc = genlab("prepare", "--corpus", "e.txt", "--unit", "line", "--out", "r", cwd=tmp_path)
    assert_user_error(proc, r"corpus e\.txt is empty")
    assert not (tmp_path / "r").exists()


def test_binary_file(tmp_path):
    (tmp_path / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert_user_error(genlab("prepare", "--corpus", "img.png", "--out", "r", cwd=tmp_path),
                      r"img\.png looks binary \(NUL byte at offset 8\)")


def test_invalid_utf8_names_file_and_offset_and_replace_works(tmp_path):
    good = ("\n".join(KOREAN_LINES[:10]) + "\n").encode()
    (tmp_path / "bad.txt").write_bytes(good + b"caf\xe9 latin-1 line\n" + "\n".join(KOREAN_LINES[10:]).encode())
    proc = genlab("prepare", "--corpus", "bad.txt", "--unit", "line", "--out", "r", cwd=tmp_path)
    assert_user_error(proc, rf"bad\.txt is not valid UTF-8 \(byte offset {len(good) + 3}\).*--encoding-errors replace")
    proc = genlab("prepare", "--corpus", "bad.txt", "--unit", "line", "--out", "r", "--encoding-errors", "replace",
                  "--split", "0.5,0.25,0.25", "--no-shuffle", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    from genlab.tokens import TokenStore

    store = TokenStore(tmp_path / "r")
    assert "caf\ufffd latin-1 line" in store.tokenizer.decode(store.split("train"))


def test_corpus_too_small_to_split(tmp_path):
    (tmp_path / "one.txt").write_text("just one line\n", encoding="utf-8")
    assert_user_error(genlab("prepare", "--corpus", "one.txt", "--unit", "line", "--out", "r", cwd=tmp_path),
                      r"corpus too small to split: one document of 1 non-blank line\(s\) cannot make 3 non-empty")
    (tmp_path / "two.txt").write_text("one line\n\nand another\n", encoding="utf-8")
    assert_user_error(genlab("prepare", "--corpus", "two.txt", "--out", "r", cwd=tmp_path),
                      r"one document of 2 non-blank line\(s\) cannot make 3 non-empty splits by position")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("kind", ["char", "word", "jamo", "bpe"])
def test_one_file_corpus_splits_by_position(tmp_path, kind):
    """nanoGPT's first step: one input.txt. It splits 90/5/5 by position at line boundaries, in order."""
    lines = [f"{KOREAN_LINES[i % 60]} — line {i}" for i in range(400)]
    (tmp_path / "input.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = genlab("prepare", "--corpus", "input.txt", "--tokenizer", kind, "--out", "r", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "one document: split by position at line boundaries (0.9/0.05/0.05)" in proc.stdout
    from genlab.tokens import TokenStore

    store = TokenStore(tmp_path / "r")
    assert store.meta["split_by"] == "position"
    counts = store.meta["split_lines"]
    assert sum(counts.values()) == 400 and min(counts.values()) >= 1
    texts = {}
    for split in ("train", "val", "test"):
        ids = np.asarray(store.split(split))
        assert len(ids) > 1 and ids[-1] == store.tokenizer.eos_id
        texts[split] = store.tokenizer.decode(ids[:-1])
        assert texts[split].endswith("\n")  # each split ends at a line boundary
    train_lines = counts["train"]
    assert texts["train"] == "".join(line + "\n" for line in lines[:train_lines])  # the first lines, in order
    if kind != "word":  # (words first seen after the cut are <unk> in val/test for the word tokenizer)
        assert texts["train"] + texts["val"] + texts["test"] == "\n".join(lines) + "\n"  # nothing lost
    assert texts["val"].startswith(lines[train_lines][:10])
    # deterministic: the same command gives the same store
    again = genlab("prepare", "--corpus", "input.txt", "--tokenizer", kind, "--out", "r2", "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    for split in ("train", "val", "test"):
        assert (tmp_path / "r" / f"{split}.bin").read_bytes() == (tmp_path / "r2" / f"{split}.bin").read_bytes()


NONSENSE = {
    "negative vocab": (["--vocab-size", "-3"], r"--vocab-size: expected a positive integer, got '-3'"),
    "tiny bpe vocab": (["--tokenizer", "bpe", "--vocab-size", "100"], r"--vocab-size 100 is too small for byte-level"),
    "two ratios": (["--split", "0.9,0.1"], r"--split '0.9,0.1' must be three non-negative ratios .* summing to 1"),
    "negative seed": (["--seed", "-1"], r"--seed: expected an integer ≥ 0"),
    "unknown unit": (["--unit", "sentence"], r"--unit: invalid choice: 'sentence'"),
    "negative sample": (["--tokenizer-sample-mb", "-1"], r"--tokenizer-sample-mb: expected a finite number ≥ 0"),
    "lowercase char": (["--lowercase"], r"--lowercase only applies to --tokenizer word"),
    "no out": (None, r"the following arguments are required: --out"),
    "out is a file": (["--out", "c.txt"], r"--out c\.txt is a file; pass a directory"),
}


@pytest.fixture(scope="module")
def nonsense_results(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """All the bad-flag runs at once: each is a fresh interpreter, so run them side by side."""
    from concurrent.futures import ThreadPoolExecutor

    root = tmp_path_factory.mktemp("flags")
    (root / "c.txt").write_text("\n".join(KOREAN_LINES) + "\n", encoding="utf-8")

    def run(case: str) -> subprocess.CompletedProcess:
        args = NONSENSE[case][0]
        if args is None:
            return genlab("prepare", "--corpus", "c.txt", cwd=root)
        out = [] if "--out" in args else ["--out", f"r-{len(case)}"]
        return genlab("prepare", "--corpus", "c.txt", "--unit", "line", *out, *args, cwd=root)

    with ThreadPoolExecutor(4) as pool:
        return dict(zip(NONSENSE, pool.map(run, NONSENSE)))


@pytest.mark.parametrize("case", list(NONSENSE))
def test_nonsense_flag_values(nonsense_results, case):
    assert_user_error(nonsense_results[case], NONSENSE[case][1])


def test_verbose_shows_the_traceback(tmp_path):
    proc = genlab("--verbose", "prepare", "--corpus", "nope.txt", "--out", "r", cwd=tmp_path)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr and "GenlabError" in proc.stderr
