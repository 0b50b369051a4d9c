"""The command-line contract of `genlab audio`, through real subprocesses."""

from __future__ import annotations

import wave

import pytest

from .conftest import TINY_CLI as TINY
from .conftest import genlab, needs_espeak


def test_sample_writes_wavs_that_reopen_and_the_same_seed_gives_the_same_clips(trained_run, tmp_path):
    for name in ("a", "b"):
        out = genlab("audio", "sample", str(trained_run), "--num", "3", "--out", str(tmp_path / name), "--seed", "1")
        assert out.returncode == 0, out.stderr
    files = sorted((tmp_path / "a").glob("*.wav"))
    assert [f.name for f in files] == ["000.wav", "001.wav", "002.wav"]
    assert (tmp_path / "a" / "spectrograms.png").read_bytes()[:4] == b"\x89PNG"
    for f in files:
        with wave.open(str(f)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 8000, 8000)
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes()


def test_eval_prints_the_inception_score_next_to_the_real_clips(trained_run):
    out = genlab("audio", "eval", str(trained_run))
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.startswith("inception score")]
    assert len(lines) == 2 and "generated" in lines[0] and "real" in lines[1]
    generated, real = (float(line.split()[2]) for line in lines)
    assert 1.0 <= generated <= 3.0 and real > generated


@needs_espeak
def test_train_on_the_builtin_spoken_digits(tmp_path):
    run = tmp_path / "run"
    out = genlab("audio", "train", str(run), "--model", "wavegan", "--data", "builtin:spoken-digits", "--data-dir",
                 str(tmp_path / "cache"), "--clips-per-word", "1", "--max-steps", "1", "--seed", "0", "--quiet",
                 "--no-pictures", *TINY)
    assert out.returncode == 0, out.stderr
    assert list((tmp_path / "cache").glob("spoken-digits-*.safetensors"))


def _bad_folder(tmp_path, kind):
    folder = tmp_path / kind
    folder.mkdir()
    if kind == "empty-file":
        (folder / "a.wav").write_bytes(b"")
    else:
        (folder / "a.wav").write_bytes(b"RIFF\x00\x00nonsense")
    return folder


@pytest.mark.parametrize(("args", "message"), [
    (["train", "{tmp}/r", "--model", "wavegan", "--data", "{empty-file}"], "is empty"),
    (["train", "{tmp}/r", "--model", "wavegan", "--data", "{invalid}"], "not a readable WAV"),
    (["train", "{tmp}/r", "--model", "wavegan", "--data", "{tmp}/missing"], "not found"),
    (["train", "{tmp}/r", "--model", "wavegan", "--time-budget", "soon"], "expected a duration"),
    (["train", "{tmp}/r", "--model", "wavenet"], "invalid choice"),
    (["train", "{tmp}/r", "--model", "wavegan", "--data", "{empty-file}/a.wav"], "is not a folder"),
    (["sample", "{tmp}/missing", "--out", "{tmp}/o"], "not found"),
    (["sample", "{tmp}/r", "--num", "0", "--out", "{tmp}/o"], "positive integer"),
    (["eval", "{tmp}/empty.json"], "is a file, not a run directory"),
    (["eval", "{tmp}"], "config.json not found"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    subs = {"{tmp}": str(tmp_path), "{empty-file}": str(_bad_folder(tmp_path, "empty-file")),
            "{invalid}": str(_bad_folder(tmp_path, "invalid"))}
    (tmp_path / "empty.json").write_text("")
    argv = []
    for a in args:
        for k, v in subs.items():
            a = a.replace(k, v)
        argv.append(a)
    out = genlab("audio", *argv)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.parametrize(("setting", "message"), [
    ("lr=nan", "lr must be a finite number > 0"),
    ("beta1=5", "beta1 must be a finite number in [0, 1)"),
    ("ema=2", "ema must be a finite number in [0, 1)"),
    ("gp_weight=nan", "gp_weight must be a finite number ≥ 0"),
])
def test_out_of_range_settings_are_refused_before_the_run_is_written(tmp_path, tone_folder, setting, message):
    run = tmp_path / "r"
    out = genlab("audio", "train", str(run), "--model", "wavegan", "--data", str(tone_folder), "--set", setting,
                 "--max-steps", "1", "--quiet", "--no-pictures")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert f"wavegan setting {setting.split('=')[0]}=" in out.stderr and message in out.stderr, out.stderr
    assert not run.exists()


def test_a_wrong_loss_setting_is_refused(tmp_path, tone_folder):
    out = genlab("audio", "train", str(tmp_path / "r"), "--model", "wavegan", "--data", str(tone_folder),
                 "--set", "loss=l2", "--max-steps", "1", "--quiet")
    assert out.returncode == 2 and "unknown WaveGAN loss" in out.stderr and len(out.stderr.splitlines()) == 1


def test_corrupted_checkpoint_is_one_line(trained_run, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(trained_run, broken)
    (broken / "model-best.safetensors").write_bytes(b"\x00" * 10)
    out = genlab("audio", "sample", str(broken), "--out", str(tmp_path / "o"))
    assert out.returncode == 2 and "corrupted" in out.stderr and len(out.stderr.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_a_conditional_run_samples_the_word_asked_for(tmp_path, tone_folder, trained_run):
    run = tmp_path / "cond"
    out = genlab("audio", "train", str(run), "--model", "wavegan", "--data", str(tone_folder), "--max-steps", "2",
                 "--set", "conditional=true", "--set", "spectral=0.5", "--quiet", "--no-pictures", *TINY)
    assert out.returncode == 0, out.stderr
    out = genlab("audio", "sample", str(run), "--num", "2", "--word", "tone1", "--out", str(tmp_path / "w"))
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in (tmp_path / "w").glob("*.wav")) == ["000.wav", "001.wav"]
    out = genlab("audio", "sample", str(run), "--word", "tone9", "--out", str(tmp_path / "x"))
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "not one of this run's words: tone0, tone1, tone2" in out.stderr
    out = genlab("audio", "sample", str(trained_run), "--word", "tone1", "--out", str(tmp_path / "y"))
    assert out.returncode == 2 and "is unconditional" in out.stderr and len(out.stderr.splitlines()) == 1


def test_specgan_trains_samples_a_word_and_evaluates_through_the_cli(tmp_path, tone_folder):
    run = tmp_path / "spec"
    tiny = ["--set", "latent=8", "--set", "g_width=4", "--set", "d_width=4", "--set", "window=16",
            "--set", "griffin_lim=2", "--batch-size", "8", "--eval-interval", "2"]
    out = genlab("audio", "train", str(run), "--model", "specgan", "--data", str(tone_folder), "--max-steps", "2",
                 "--quiet", "--no-pictures", *tiny)
    assert out.returncode == 0, out.stderr
    assert "trained specgan for 2 steps" in out.stdout
    out = genlab("audio", "sample", str(run), "--num", "2", "--word", "tone2", "--out", str(tmp_path / "w"))
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "w" / "index.html").read_text(encoding="utf-8")
    assert page.count("<td>tone2</td>") == 2  # asked for in both generated clips
    out = genlab("audio", "eval", str(run))
    assert out.returncode == 0 and "inception score" in out.stdout, out.stderr
    out = genlab("audio", "train", str(tmp_path / "bad"), "--model", "specgan", "--data", str(tone_folder),
                 "--set", "window=20", "--quiet")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1 and "multiple of 16" in out.stderr
