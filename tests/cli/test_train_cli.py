"""``genlab train`` for neural models end to end: train → eval → generate, resume, errors, signals, demo."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from genlab.cli import main

TINY = ["--n-layer", "1", "--n-embd", "16", "--block-size", "16", "--batch-size", "4", "--lr", "3e-3",
        "--warmup-steps", "2", "--eval-interval", "4", "--eval-batches", "2", "--seed", "1", "--device", "cpu",
        "--quiet"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(1)
    words = ["for", "each", "item", "in", "the", "list", "print", "it", "return", "None", "한국어", "문장"]
    text = "\n".join(" ".join(rng.choice(words, size=rng.integers(3, 10))) for _ in range(1200)) + "\n"
    (root / "corpus.txt").write_text(text, encoding="utf-8")
    assert main(["prepare", "--corpus", str(root / "corpus.txt"), "--out", str(root / "base"), "--unit", "line",
                 "--tokenizer", "char", "--quiet"]) == 0
    return root / "base"


@pytest.fixture
def run(prepared, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(prepared, out)
    return str(out)


def test_gpt_train_eval_generate(run, capsys):
    assert main(["train", run, "--model", "gpt", "--n-head", "2", "--max-steps", "8", *TINY]) == 0
    out = capsys.readouterr().out
    assert "val perplexity" in out and "8 steps" in out
    assert main(["eval", run, "--split", "val", "--quiet"]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if "perplexity" in x][0]
    assert float(line.split()[-1]) > 1.0
    assert main(["eval", run, "--split", "val", "--quiet", "--stride", "4"]) == 0  # a sliding window
    sliding = [x for x in capsys.readouterr().out.splitlines() if "perplexity" in x][0]
    assert float(sliding.split()[-1]) > 1.0 and sliding != line
    assert main(["eval", run, "--split", "val", "--quiet", "--stride", "100000"]) == 2
    assert "--stride must be between 1 and" in capsys.readouterr().err
    assert main(["eval", run, "--quiet", "--beam", "3"]) == 2  # once ignored: perplexity has no beam
    assert "--beam is for encoder-decoder runs" in capsys.readouterr().err
    assert main(["generate", run, "--prompt", "for ", "--max-tokens", "40", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("for ")
    assert main(["generate", run, "--prompt", "for ", "--max-tokens", "40", "--seed", "3"]) == 0
    assert capsys.readouterr().out == first  # same seed, same text


@pytest.mark.parametrize("family", ["rnn", "lstm", "gru"])
def test_recurrent_models_train_and_generate(run, capsys, family):
    assert main(["train", run, "--model", family, "--max-steps", "4", *TINY]) == 0
    saved = json.load(open(os.path.join(run, "config.json")))
    assert saved["model"]["family"] == family and saved["model"]["impl"] == "torch"
    assert saved["preset"] == f"{family}-tiny" and saved["train"]["clip"] == 1.0  # preset defaults recorded
    assert main(["generate", run, "--max-tokens", "30", "--seed", "1", "--temperature", "0"]) == 0
    assert main(["eval", run, "--split", "test", "--quiet"]) == 0
    assert "perplexity" in capsys.readouterr().out


def test_reference_cells_are_selectable(run):
    assert main(["train", run, "--model", "lstm", "--rnn-impl", "reference", "--max-steps", "2", *TINY]) == 0
    assert json.load(open(os.path.join(run, "config.json")))["model"]["impl"] == "reference"


def test_resume_with_larger_max_steps_continues_to_the_new_end(run, capsys):
    assert main(["train", run, "--model", "gpt", "--max-steps", "4", *TINY]) == 0
    assert main(["train", run, "--model", "gpt", "--resume", "--max-steps", "8", "--quiet", "--device", "cpu"]) == 0
    assert "8 steps" in capsys.readouterr().out
    steps = [json.loads(x)["step"] for x in open(os.path.join(run, "metrics.jsonl"))]
    assert max(steps) == 8 and json.load(open(os.path.join(run, "config.json")))["train"]["max_steps"] == 8


def test_embed_lr_scale_is_recorded_and_cannot_change_on_resume(run, capsys):
    assert main(["train", run, "--model", "gpt", "--max-steps", "2", "--embed-lr-scale", "3", *TINY]) == 0
    assert json.load(open(os.path.join(run, "config.json")))["train"]["embed_lr_scale"] == 3.0
    assert main(["train", run, "--model", "gpt", "--resume", "--max-steps", "3", "--embed-lr-scale", "2",
                 "--quiet", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--embed-lr-scale 2 differs from the run's (3)" in err and err.count("\n") == 1
    assert main(["train", run, "--model", "gpt", "--resume", "--max-steps", "3", "--scalar-lr-scale", "4",
                 "--quiet", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--scalar-lr-scale 4 differs from the run's (1)" in err and err.count("\n") == 1
    assert main(["train", run, "--model", "gpt", "--resume", "--max-steps", "3", "--quiet", "--device", "cpu"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--model", "lstm", "--n-head", "2", "--max-steps", "1"], "--n-head is for --model gpt"),
    (["--model", "gpt", "--embed-lr-scale", "0", "--max-steps", "1"], "--embed-lr-scale must be > 0"),
    (["--model", "gpt", "--scalar-lr-scale", "0", "--max-steps", "1"], "--scalar-lr-scale must be > 0"),
    (["--model", "gpt", "--preset", "lstm-tiny", "--max-steps", "1"], "is a lstm model"),
    (["--model", "gpt", "--preset", "gpt-huge", "--max-steps", "1"], "unknown preset"),
    (["--model", "gpt", "--n-embd", "15", "--n-head", "4", "--max-steps", "1"], "divisible"),
    (["--model", "gpt", "--resume"], "no checkpoint to resume"),
    (["--model", "gpt", "--batch-size", "6", "--grad-accum", "4", "--max-steps", "1"], "multiple of"),
])
def test_bad_requests_are_one_line_errors(run, capsys, argv, message):
    if "--resume" in argv:
        (open(os.path.join(run, "config.json"), "w")).write(json.dumps({"model": {"family": "gpt"}}))
    assert main(["train", run, *argv, "--quiet", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_existing_model_is_not_overwritten_by_accident(run, capsys):
    assert main(["train", run, "--model", "gpt", "--max-steps", "2", *TINY]) == 0
    assert main(["train", run, "--model", "gpt", "--max-steps", "2", *TINY]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", run, "--model", "gru", "--resume", "--max-steps", "3", "--quiet"]) == 2
    assert "holds a gpt model" in capsys.readouterr().err
    assert main(["train", run, "--model", "gpt", "--resume", "--n-layer", "3", "--max-steps", "3", "--quiet"]) == 2
    assert "differs from the run's model" in capsys.readouterr().err
    assert main(["train", run, "--model", "gpt", "--max-steps", "2", "--overwrite", *TINY]) == 0


def test_an_overwrite_that_fails_before_saving_keeps_the_previous_model(run, capsys):
    assert main(["train", run, "--model", "gpt", "--max-steps", "2", *TINY]) == 0
    before = {name: open(os.path.join(run, name), "rb").read() for name in ("model.safetensors", "config.json")}
    assert main(["train", run, "--model", "gpt", "--max-steps", "20", "--overwrite", *TINY, "--lr", "1e30",
                 "--warmup-steps", "0"]) == 2  # NaN at step 2, before the new run's first checkpoint
    assert "nan" in capsys.readouterr().err
    assert {name: open(os.path.join(run, name), "rb").read() for name in before} == before
    assert not os.path.exists(os.path.join(run, ".previous-model"))
    assert main(["train", run, "--model", "gpt", "--max-steps", "2", "--overwrite", *TINY]) == 0
    assert not os.path.exists(os.path.join(run, ".previous-model"))  # a new checkpoint: the old model is gone


def test_a_refused_bert_leaves_the_run_as_it_was(run, capsys):
    """Making a BERT's task adds <mask> to the run's tokenizer: a refusal must come before that."""
    assert main(["train", run, "--model", "gpt", "--n-head", "2", "--max-steps", "2", *TINY]) == 0
    files = {name: open(os.path.join(run, name), "rb").read() for name in ("tokenizer.json", "meta.json")}
    assert main(["train", run, "--model", "bert", "--max-steps", "2", *TINY]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", run, "--model", "bert", "--resume", "--quiet"]) == 2
    assert "holds a gpt model" in capsys.readouterr().err
    assert {name: open(os.path.join(run, name), "rb").read() for name in files} == files
    assert main(["generate", run, "--max-tokens", "4", "--seed", "1"]) == 0


def test_on_nan_skip_gives_up_once_the_weights_have_diverged(run, capsys):
    assert main(["train", run, "--model", "gpt", "--max-steps", "30", *TINY, "--lr", "1e30", "--warmup-steps", "0",
                 "--on-nan", "skip"]) == 2
    err = capsys.readouterr().err
    assert "steps in a row" in err and err.count("\n") == 1
    assert not os.path.exists(os.path.join(run, "model.safetensors"))  # no diverged weights were saved


def test_missing_pieces_of_a_run_are_named_for_what_they_are(prepared, tmp_path, capsys):
    """A run without a test split, without its latest weights, and chat with stdin closed."""
    corpus = prepared.parent / "corpus.txt"
    run = str(tmp_path / "no-test")
    assert main(["prepare", "--corpus", str(corpus), "--out", run, "--unit", "line", "--split", "0.9,0.1,0",
                 "--tokenizer", "char", "--quiet"]) == 0
    assert main(["train", run, "--model", "gpt", "--n-head", "2", "--max-steps", "2", *TINY]) == 0
    capsys.readouterr()
    assert main(["eval", run, "--quiet"]) == 0  # the default splits: val scored, the empty test split skipped
    out, err = capsys.readouterr()
    assert "val" in out and "split test is empty" in err
    os.remove(os.path.join(run, "model.safetensors"))
    assert main(["generate", run, "--which", "latest", "--max-tokens", "2"]) == 2
    assert "no latest checkpoint (model.safetensors), only the best weights" in capsys.readouterr().err
    closed = subprocess.run(["sh", "-c", f'exec 0<&-; "{sys.executable}" -m genlab chat {run} --max-tokens 2'],
                            capture_output=True, text=True, timeout=120)
    assert closed.returncode == 0 and "Traceback" not in closed.stderr and "internal error" not in closed.stderr
    closed = subprocess.run(["sh", "-c", f'exec 1>&-; "{sys.executable}" -m genlab generate {run} --max-tokens 2'],
                            capture_output=True, text=True, timeout=120)
    assert closed.returncode == 0 and "internal error" not in closed.stderr  # stdout closed: output goes nowhere


def test_damaged_checkpoints_are_clear_errors(run, capsys):
    assert main(["train", run, "--model", "gpt", "--max-steps", "2", *TINY]) == 0
    state = os.path.join(run, "train_state.pt")
    with open(state, "r+b") as fh:
        fh.truncate(200)
    assert main(["train", run, "--model", "gpt", "--resume", "--max-steps", "3", "--quiet", "--device", "cpu"]) == 2
    assert "corrupted" in capsys.readouterr().err
    weights = os.path.join(run, "model.safetensors")
    with open(weights, "r+b") as fh:
        fh.truncate(64)
    assert main(["eval", run, "--which", "latest", "--quiet"]) == 2
    assert "corrupted" in capsys.readouterr().err


def test_sigterm_saves_and_exits_zero(run):
    """A real process: SIGTERM mid-training → finish the step, save, exit 0, and --resume works."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "genlab", "train", run, "--model", "gpt", "--max-steps", "100000",
           "--log-interval", "1", *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    metrics = os.path.join(run, "metrics.jsonl")
    deadline = time.time() + 60
    while time.time() < deadline and not (os.path.exists(metrics) and os.path.getsize(metrics) > 0):
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "SIGTERM" in err and "--resume" in out
    import torch

    step = torch.load(os.path.join(run, "train_state.pt"), weights_only=True)["progress"]["step"]
    assert step >= 1
    assert main(["train", run, "--model", "gpt", "--resume", "--max-steps", str(step + 1), "--quiet",
                 "--device", "cpu"]) == 0


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--time-budget", "1", "--samples", "1", "--max-tokens", "20",
                 "--eval-tokens", "500", "--quiet", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "val: perplexity" in text and "--- sample 1" in text
    assert (out / ".genlab-demo").is_file() and (out / "model-best.safetensors").is_file()
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path / "mine"), "--quiet"]) == 2
