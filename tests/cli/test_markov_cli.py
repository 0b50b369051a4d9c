"""The Markov chain through the real `genlab` command: prepare → train → eval → generate."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genlab.cli import main

WORDS = ("the", "cat", "dog", "sat", "on", "a", "mat", "and", "ran", "to", "red", "blue", "green", "house", "tree",
         "small", "big", "very", "old", "new", "bird", "sings", "in", "morning", "light", "rain", "falls", "over")


def genlab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True, timeout=120)


def perplexity_of(output: str) -> float:
    match = re.search(r"perplexity\s+([0-9][0-9.,]*)", output)
    assert match, output
    return float(match.group(1).replace(",", ""))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    lines = [" ".join(rng.choice(WORDS, size=rng.integers(3, 12))) for _ in range(400)]
    path = tmp_path_factory.mktemp("corpus") / "lines.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "markov"
    prep = genlab("prepare", "--corpus", str(corpus), "--unit", "line", "--tokenizer", "char", "--out", str(out),
                  "--quiet")
    assert prep.returncode == 0, prep.stderr
    train = genlab("train", str(out), "--model", "markov", "--order", "3", "--smoothing", "kn", "--quiet")
    assert train.returncode == 0, train.stderr
    assert "fitted a 3-gram Markov chain (kn" in train.stdout
    assert re.search(r"3-grams [0-9,]+", train.stdout)
    return out


def test_train_saves_counts_and_config_without_pickle(run):
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["family"] == "markov" and config["model"]["order"] == 3
    assert config["model"]["smoothing"] == "kn" and config["tokenizer_fingerprint"]
    assert (run / "model.safetensors").is_file()
    assert not list(run.glob("*.pt")) and not list(run.glob("*.pkl"))


def test_eval_prints_perplexity_tokens_and_oov_rate(run, capsys):
    val = genlab("eval", str(run), "--split", "val", "--quiet")
    assert val.returncode == 0, val.stderr
    ppl = perplexity_of(val.stdout)
    assert 1 < ppl < 30  # 30 letters and a space, strongly predictable within words
    assert re.search(r"val: tokens [0-9,]+", val.stdout) and "OOV rate" in val.stdout
    assert main(["eval", str(run), "--quiet", "--json"]) == 0
    splits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["split"] for s in splits] == ["val", "test"]
    assert splits[0]["perplexity"] == pytest.approx(ppl, rel=1e-3)


def test_unknown_characters_keep_kneser_ney_finite(run, tmp_path, capsys):
    text = tmp_path / "novel.txt"
    text.write_text("the cat sat on the ☃ mat\n", encoding="utf-8")
    assert main(["eval", str(run), "--corpus", str(text), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert np.isfinite(perplexity_of(out)) and "zero-probability" not in out


def test_generate_same_seed_same_text(run, capsys):
    first = genlab("generate", str(run), "--max-tokens", "50", "--seed", "1")
    second = genlab("generate", str(run), "--max-tokens", "50", "--seed", "1")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout and first.stdout.strip()
    assert main(["generate", str(run), "--max-tokens", "50", "--seed", "1"]) == 0
    assert capsys.readouterr().out == first.stdout
    assert main(["generate", str(run), "--max-tokens", "50", "--seed", "2"]) == 0
    assert capsys.readouterr().out != first.stdout


def test_generate_num_prompt_and_sampling_flags(run):
    out = genlab("generate", str(run), "--num", "5", "--prompt", "the ", "--max-tokens", "40", "--temperature",
                 "0.8", "--top-k", "10", "--top-p", "0.9", "--seed", "4")
    assert out.returncode == 0, out.stderr
    samples = re.findall(r"--- sample (\d) ---\n(.*)", out.stdout)
    assert [n for n, _ in samples] == ["1", "2", "3", "4", "5"]
    assert all(text.startswith("the ") for _, text in samples)


def test_train_straight_from_a_corpus_file(corpus, tmp_path, capsys):
    run = tmp_path / "direct"
    assert main(["train", str(run), "--model", "markov", "--corpus", str(corpus), "--order", "2",
                 "--smoothing", "laplace", "--quiet"]) == 0
    assert "2-gram Markov chain (laplace)" in capsys.readouterr().out
    assert main(["eval", str(run), "--split", "test", "--quiet"]) == 0
    assert np.isfinite(perplexity_of(capsys.readouterr().out))


def test_stupid_backoff_generates_but_eval_refuses(run, tmp_path, capsys):
    import shutil

    copy = tmp_path / "sb"
    shutil.copytree(run, copy)
    assert main(["train", str(copy), "--model", "markov", "--smoothing", "stupid-backoff", "--quiet"]) == 0
    assert main(["generate", str(copy), "--max-tokens", "20", "--seed", "1"]) == 0
    capsys.readouterr()
    assert main(["eval", str(copy), "--split", "val", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "stupid-backoff" in err and len(err.strip().splitlines()) == 1


def test_bad_input_is_one_line_and_exit_2(run, tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing"), "--model", "markov"]) == 2
    assert main(["train", str(run), "--model", "markov", "--lr", "0.1"]) == 2
    assert main(["train", str(run), "--model", "markov", "--order", "1", "--smoothing", "kn"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "--lr" in err[1] and "--order 1" in err[2]
    for flag in (["--init-from", str(tmp_path / "nowhere")], ["--augment", "eda"], ["--ema", "0.9"]):
        assert main(["train", str(run), "--model", "markov", *flag]) == 2  # once silently ignored
        assert f"{flag[0]} do(es) not apply to --model markov" in capsys.readouterr().err


def test_a_trained_neural_model_is_not_silently_replaced(run, tmp_path, capsys):
    import shutil

    other = tmp_path / "gpt"
    shutil.copytree(run, other)
    (other / "config.json").write_text(json.dumps({"model": {"family": "gpt"}}))
    assert main(["train", str(other), "--model", "markov", "--quiet"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["train", str(other), "--model", "markov", "--quiet", "--overwrite"]) == 0
    assert json.loads((other / "config.json").read_text())["model"]["family"] == "markov"


def test_truncated_model_file_is_a_clear_error(run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(run, broken)
    model = broken / "model.safetensors"
    model.write_bytes(model.read_bytes()[:100])
    out = genlab("eval", str(broken), "--split", "val", "--quiet")
    assert out.returncode == 2
    assert "truncated" in out.stderr and "Traceback" not in out.stderr


def test_temperature_one_uses_the_chains_exact_sampler(run, capsys):
    from genlab.models import load_model
    from genlab.tokenizers import EOS_ID

    args = ["generate", str(run), "--num", "3", "--prompt", "the ", "--max-tokens", "60", "--temperature", "1",
            "--seed", "7"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    model, tokenizer, _ = load_model(run)
    rows = model.sample(3, max_tokens=60, seed=7, prompt=tokenizer.encode("the "))
    expected = [tokenizer.decode([int(t) for t in row if t != EOS_ID]) for row in rows]
    samples = re.findall(r"--- sample (\d) ---\n(.*)", printed)
    assert [text for _, text in samples] == ["the " + e for e in expected]
    assert main(args) == 0 and capsys.readouterr().out == printed  # same seed, same text
    one = genlab("generate", str(run), "--temperature", "1", "--seed", "3", "--max-tokens", "30")
    assert one.returncode == 0 and "--- sample" not in one.stdout and one.stdout.strip()
