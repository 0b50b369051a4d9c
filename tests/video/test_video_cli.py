"""The command-line contract of `genlab video`, through real subprocesses."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import genlab_subprocess as genlab

TINY = ["--set", "g_width=4", "--set", "d_width=4", "--set", "latent=8", "--batch-size", "4",
        "--eval-interval", "2", "--clips", "20"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cli") / "vgan"
    out = genlab("video", "train", str(run), "--model", "vgan", "--data", "builtin:moving-digits", "--max-steps",
                 "2", "--seed", "0", "--quiet", "--no-pictures", *TINY)
    assert out.returncode == 0, out.stderr
    assert "trained vgan for 2 steps" in out.stdout
    return run


def test_sample_writes_an_animated_gif_and_a_strip_the_same_for_the_same_seed(trained_run, tmp_path):
    for name in ("a", "b"):
        out = genlab("video", "sample", str(trained_run), "--num", "4", "--out", str(tmp_path / f"{name}.gif"),
                     "--seed", "3")
        assert out.returncode == 0, out.stderr
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 16
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()


def test_eval_prints_fid_consistency_and_motion(trained_run):
    out = genlab("video", "eval", str(trained_run))
    assert out.returncode == 0, out.stderr
    assert "FID" in out.stdout and "temporal consistency" in out.stdout and "motion" in out.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["train", "{tmp}/r", "--model", "vgan", "--data", "{empty}"], "is empty"),
    (["train", "{tmp}/r", "--model", "vgan", "--data", "{invalid}"], "not a readable GIF"),
    (["train", "{tmp}/r", "--model", "vgan", "--data", "{tmp}/missing"], "not found"),
    (["train", "{tmp}/r", "--model", "vgan", "--clips", "many"], "positive integer"),
    (["train", "{tmp}/r", "--model", "vgan", "--clips", "3"], "at least 10 clips"),
    (["train", "{tmp}/r", "--model", "vgan", "--set", "g_width=wide"], "must be an integer"),
    (["train", "{tmp}/r", "--model", "vgan", "--set", "lr=nan"], "vgan setting lr=nan is out of range"),
    (["train", "{tmp}/r", "--model", "vgan", "--set", "beta1=5"], "beta1 must be a finite number in [0, 1)"),
    (["train", "{tmp}/r", "--model", "vgan", "--set", "mask_l1=-1"], "mask_l1 must be a finite number ≥ 0"),
    (["train", "{tmp}/r", "--model", "vgan", "--set", "generator=film"], "generator=film is not one of object, volume"),
    (["train", "{tmp}/r", "--model", "vgan", "--set", "object_size=64"], "object_size=64 must be one of [8, 16, 32]"),
    (["train", "{tmp}/r", "--model", "vgan", "--set", "object_steps=-1"], "object_steps must be an integer ≥ 0"),
    (["sample", "{tmp}/missing", "--out", "{tmp}/o.gif"], "not found"),
    (["sample", "{tmp}", "--out", "{tmp}/o.png"], "*.gif"),
    (["eval", "{tmp}"], "config.json not found"),
    (["eval", "{empty}/a.gif"], "is a file, not a run directory"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    empty, invalid = tmp_path / "empty", tmp_path / "invalid"
    empty.mkdir()
    invalid.mkdir()
    (empty / "a.gif").write_bytes(b"")
    (invalid / "a.gif").write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    subs = {"{tmp}": str(tmp_path), "{empty}": str(empty), "{invalid}": str(invalid)}
    argv = []
    for a in args:
        for k, v in subs.items():
            a = a.replace(k, v)
        argv.append(a)
    out = genlab("video", *argv)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not (tmp_path / "r").exists()


def test_a_gif_cut_short_mid_frames_is_one_line_and_exit_2(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "g"
    folder.mkdir()
    for i in range(12):
        frames = [Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)) for _ in range(8)]
        frames[0].save(folder / f"{i}.gif", save_all=True, append_images=frames[1:], duration=50)
    whole = (folder / "0.gif").read_bytes()
    (folder / "0.gif").write_bytes(whole[:len(whole) * 2 // 3])
    out = genlab("video", "train", str(tmp_path / "v"), "--model", "vgan", "--data", str(folder), "--frames", "8",
                 "--image-size", "16", "--max-steps", "2", "--quiet", "--no-pictures", "--threads", "1")
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == f"genlab: error: {folder / '0.gif'} is truncated or corrupt; remove or replace it"
    assert not (tmp_path / "v").exists()


def _gif_folder(folder, background: int) -> None:
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(12):
        frames = []
        for t in range(8):
            frame = np.full((16, 16), background, dtype=np.uint8)
            frame[4 + t % 4:8 + t % 4, 5:9] = rng.integers(0, 256, (4, 4), dtype=np.uint8)
            frames.append(Image.fromarray(frame))
        frames[0].save(folder / f"{i}.gif", save_all=True, append_images=frames[1:], duration=50)


@pytest.mark.parametrize(("background", "settings", "noted"), [
    (230, [], True), (0, [], False), (230, ["--set", "background=true"], False)])
def test_a_bright_background_gets_a_note_about_the_object_generator(tmp_path, background, settings, noted):
    folder = tmp_path / "g"
    _gif_folder(folder, background)
    out = genlab("video", "train", str(tmp_path / "v"), "--model", "vgan", "--data", str(folder), "--frames", "8",
                 "--image-size", "16", "--max-steps", "1", "--quiet", "--no-pictures", "--threads", "1", *settings)
    assert out.returncode == 0, out.stderr
    assert ("backgrounds are not dark" in out.stderr) is noted, out.stderr
