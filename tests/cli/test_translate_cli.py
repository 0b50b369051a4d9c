"""The encoder–decoder command-line contract, through real `genlab` processes:
prepare --pairs → train --model rnn-attn|transformer → eval --bleu → translate."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from genlab.cli import main


def genlab(*args: str, stdin: str | bytes | None = None) -> subprocess.CompletedProcess:
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # small models: one thread is fastest on a shared machine
    done = subprocess.run([sys.executable, "-m", "genlab", *args], input=data, capture_output=True, timeout=300,
                          env=env)
    done.stdout, done.stderr = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    return done


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dates") / "run"
    done = genlab("prepare", "--pairs", "builtin:dates", "--num-examples", "3000", "--out", str(path), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "pairs train 2,700 / val 150 / test 150" in done.stdout
    done = genlab("train", str(path), "--model", "rnn-attn", "--time-budget", "15", "--seed", "1", "--n-embd", "64",
                  "--lr", "3e-3", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "trained rnn-attn" in done.stdout
    return path


def test_eval_bleu_prints_bleu_chrf_and_exact_match(run):
    done = genlab("eval", str(run), "--bleu", "--quiet")
    assert done.returncode == 0, done.stderr
    bleu = re.search(r"BLEU\s+([0-9.]+)", done.stdout)
    exact = re.search(r"exact match\s+([0-9.]+)%", done.stdout)
    assert bleu and exact and re.search(r"chrF\s+[0-9.]+", done.stdout), done.stdout
    assert "signature nrefs:1|case:mixed" in done.stdout
    assert 0 <= float(bleu.group(1)) <= 100 and 0 <= float(exact.group(1)) <= 100
    beam = genlab("eval", str(run), "--bleu", "--beam", "3", "--split", "val", "--quiet")
    assert beam.returncode == 0 and "val: BLEU" in beam.stdout and "val: exact match" in beam.stdout


def test_translate_reads_stdin_and_prints_one_line_per_input_line(run, tmp_path):
    lines = ["November 23, 2026", "", "23.11.2026", "2026년 11월 23일"]
    done = genlab("translate", str(run), "--beam", "3", stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout.split("\n")
    assert out[-1] == "" and len(out) - 1 == len(lines)  # one line per input line, blank stays blank
    assert out[1] == "" and all(out[i] for i in (0, 2, 3))
    source = tmp_path / "in.txt"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from_file = genlab("translate", str(run), "--beam", "3", "--input", str(source),
                       "--plot-attention", str(tmp_path / "attention.png"))
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == done.stdout
    assert (tmp_path / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_transformer_trains_through_the_same_command(run, tmp_path):
    copy = tmp_path / "t"
    copy.mkdir()
    for name in ("meta.json", "tokenizer.json", "train.pairs.safetensors", "val.pairs.safetensors",
                 "test.pairs.safetensors", "train.pairs.jsonl", "val.pairs.jsonl", "test.pairs.jsonl"):
        (copy / name).write_bytes((run / name).read_bytes())
    done = genlab("train", str(copy), "--model", "transformer", "--time-budget", "6", "--seed", "1",
                  "--n-embd", "32", "--n-layer", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "trained transformer" in done.stdout and "exact_match" in done.stdout
    done = genlab("translate", str(copy), stdin="1/2/2003\n")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1


def test_malformed_pairs_file_exits_2_naming_the_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("good\tgut\nthis line has no tab\n", encoding="utf-8")
    done = genlab("prepare", "--pairs", str(bad), "--out", str(tmp_path / "r"))
    assert done.returncode == 2
    assert "line 2" in done.stderr and "Traceback" not in done.stderr


def test_bad_input_is_one_line_exit_2(run, tmp_path, capsys):
    done = genlab("translate", str(run), stdin=b"fine\n\xff\xfe\n")
    assert done.returncode == 2 and "stdin line 2" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout.count("\n") == 1  # the good first line was already answered
    assert main(["translate", str(tmp_path / "missing")]) == 2
    assert "not found" in capsys.readouterr().err
    assert main(["translate", str(run), "--input", str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt" in capsys.readouterr().err
    assert main(["eval", str(tmp_path / "missing"), "--bleu"]) == 2
    capsys.readouterr()
    assert main(["eval", str(run), "--corpus", str(tmp_path / "nope.txt"), "--quiet"]) == 2  # once ignored
    assert "is for a language model's perplexity" in capsys.readouterr().err
    wide = genlab("translate", str(run), "--beam", "100000", stdin=b"hello\n")  # once ran for minutes
    assert wide.returncode == 2 and "give a beam from 1 to 256" in wide.stderr
