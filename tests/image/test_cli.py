"""The command-line contract of `genlab image`, through real subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

TINY_VAE = ["--set", "width=8", "--set", "latent=4", "--batch-size", "32", "--eval-interval", "2"]


def genlab(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("GENLAB_VERBOSE", None)
    return subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "vae"
    out = genlab("image", "train", str(run), "--model", "vae", "--data", "builtin:digits", "--max-steps", "4",
                 "--seed", "0", "--quiet", *TINY_VAE)
    assert out.returncode == 0, out.stderr
    assert "trained vae for 4 steps" in out.stdout
    return run


def test_train_writes_a_complete_run(trained_run):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.json", "model.safetensors", "model-best.safetensors", "train_state.pt", "metrics.jsonl",
            "samples.png", "loss.png", "reconstructions.png", "interpolations.png"} <= names
    config = json.loads((trained_run / "config.json").read_text())
    assert config["model"]["width"] == 8 and config["train"]["seed"] == 0


def test_sample_writes_a_png_and_the_same_seed_gives_the_same_file(trained_run, tmp_path):
    from genlab.cli import main

    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    for path in (a, b):  # two processes, same seed
        out = genlab("image", "sample", str(trained_run), "--num", "16", "--out", str(path), "--seed", "1")
        assert out.returncode == 0, out.stderr
    assert main(["image", "sample", str(trained_run), "--num", "16", "--out", str(c), "--seed", "2"]) == 0
    assert a.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    assert not np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(c)))


def test_eval_prints_digits_fid_next_to_the_real_vs_real_baseline(trained_run):
    out = genlab("image", "eval", str(trained_run), "--json")
    assert out.returncode == 0, out.stderr
    line = next(line for line in out.stdout.splitlines() if "FID" in line)
    match = re.search(r"digits FID (\d+\.\d+) +\(real-vs-real baseline (\d+\.\d+), uniform noise (\d+\.\d+)", line)
    assert match, line
    fid, real, noise = map(float, match.groups())
    assert real < 1.0 < noise and fid > real
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["fid"] == pytest.approx(fid, abs=1e-3) and report["bits_per_dim"] > 0
    assert "bits/dim" in out.stdout and "mode coverage" in out.stdout and "memorisation" in out.stdout


def test_resume_continues_the_run(trained_run):
    out = genlab("image", "train", str(trained_run), "--resume", "--max-steps", "6", "--quiet", "--no-pictures")
    assert out.returncode == 0, out.stderr
    assert "for 6 steps" in out.stdout


def test_training_a_folder_of_images(tmp_path):
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / "imgs" / cls).mkdir(parents=True)
        for i in range(8):
            pixels = rng.integers(0, 256, (16, 16), dtype=np.uint8)
            Image.fromarray(pixels, "L").save(tmp_path / "imgs" / cls / f"{i}.png")
    run = tmp_path / "run"
    out = genlab("image", "train", str(run), "--model", "autoencoder", "--data", str(tmp_path / "imgs"),
                 "--image-size", "8", "--max-steps", "2", "--quiet", "--no-pictures", "--set", "width=4")
    assert out.returncode == 0, out.stderr
    assert json.loads((run / "config.json").read_text())["data"]["classes"] == ["a", "b"]


@pytest.mark.parametrize("case", ["missing-dir", "empty-dir", "non-images"])
def test_bad_data_is_one_line_and_exit_2(tmp_path, case):
    data = tmp_path / "data"
    if case != "missing-dir":
        data.mkdir()
    if case == "non-images":
        (data / "notes.txt").write_text("hello")
        (data / "photo.png").write_bytes(b"this is not a PNG file")
    out = genlab("image", "train", str(tmp_path / "run"), "--model", "vae", "--data", str(data), "--quiet")
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genlab: error:"), out.stderr
    assert str(data) in lines[0]


@pytest.mark.parametrize("case", ["no-model", "bad-set", "not-a-run", "overwrite", "bad-out", "bad-flag",
                                  "resume-new-settings", "architecture-at-sampling"])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, case, trained_run, capsys):
    from genlab.cli import main

    run = str(tmp_path / "run")
    args = {
        "no-model": ["image", "train", run],
        "bad-set": ["image", "train", run, "--model", "vae", "--set", "wings=2"],
        "not-a-run": ["image", "eval", str(tmp_path)],
        "overwrite": ["image", "train", str(trained_run), "--model", "vae"],
        "bad-out": ["image", "sample", str(trained_run), "--out", str(tmp_path / "grid.jpg")],
        "bad-flag": ["image", "sample", str(trained_run), "--num", "zero", "--out", "x.png"],
        "resume-new-settings": ["image", "train", str(trained_run), "--resume", "--lr", "0.1"],
        "architecture-at-sampling": ["image", "sample", str(trained_run), "--out", str(tmp_path / "g.png"),
                                     "--set", "width=64"],
    }[case]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("genlab: error:"), lines


def test_sampling_settings_can_change_at_sample_time(trained_run, tmp_path, capsys):
    from genlab.cli import main

    out = tmp_path / "mean.png"
    assert main(["image", "sample", str(trained_run), "--num", "4", "--out", str(out), "--set", "output=mean"]) == 0
    assert out.is_file() and "wrote 4 samples" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "vae", "--set", "lr=nan"], "vae setting lr=nan is out of range: lr must be a finite number > 0"),
    (["--model", "vae", "--lr", "0"], "vae setting lr=0.0 is out of range"),
    (["--model", "gan", "--set", "beta1=5"], "gan setting beta1=5.0 is out of range: beta1 must be a finite number "
                                             "in [0, 1)"),
    (["--model", "diffusion", "--set", "ema=1"], "ema must be a finite number in [0, 1)"),
])
def test_out_of_range_settings_are_one_line_and_leave_no_run(tmp_path, capsys, args, message):
    from genlab.cli import main

    run = tmp_path / "run"
    assert main(["image", "train", str(run), *args, "--max-steps", "2", "--quiet", "--no-pictures"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not run.exists()
