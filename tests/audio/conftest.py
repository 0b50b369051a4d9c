"""Shared fixtures for the audio tests: tiny clip sets (synthetic tones, or espeak-ng speech) and tiny models."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from genlab.audio.wav import write_wav
from tests.conftest import genlab_subprocess as genlab

#: the smallest WaveGAN that still exercises every layer (CI-sized)
TINY = {"latent": 8, "width": 2, "batch_size": 8, "eval_interval": 3}

ESPEAK_MISSING = ("espeak-ng is not installed and could not be installed here (`make test` installs it with "
                  "apt-get as root or with sudo): apt-get install espeak-ng")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason=ESPEAK_MISSING)


def check_trains_and_samples(model, x: torch.Tensor, n: int) -> None:
    """Two training steps on clips ``x`` give finite losses and move the generator; ``n`` samples are mono
    8,000-sample clips in [−1, 1], the same for the same seed and not for another."""
    opts = model.configure_optimizers()
    before = [p.clone() for p in model.generator.parameters()]
    for _ in range(2):
        values = model.training_step(x, opts)
        assert all(np.isfinite(v) for v in values.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.generator.parameters()))
    clips = model.sample(n, seed=1)
    assert clips.shape == (n, 1, 8000) and clips.min() >= -1 and clips.max() <= 1
    assert torch.equal(clips, model.sample(n, seed=1)) and not torch.equal(clips, model.sample(n, seed=2))


@pytest.fixture(scope="package", autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tone_clips(n_per_class: int = 16, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """int16 clips [N, 8000]: class k is a short tone at 300·(k+1) Hz starting at a random time (no espeak-ng)."""
    rng = np.random.default_rng(seed)
    t = np.arange(2000) / 8000
    clips, labels = [], []
    for k in range(classes):
        for _ in range(n_per_class):
            clip = rng.normal(0, 0.005, 8000)
            start = int(rng.integers(0, 6000))
            clip[start:start + 2000] += 0.5 * np.sin(2 * np.pi * 300 * (k + 1) * t) * np.hanning(2000)
            clips.append(np.round(clip * 32767).astype(np.int16))
            labels.append(k)
    return np.stack(clips), np.array(labels)


@pytest.fixture(scope="package")
def tones():
    from genlab.audio.data import from_clips

    clips, labels = tone_clips()
    return from_clips("tones", clips, labels, ["300Hz", "600Hz", "900Hz"])


#: the same through `genlab audio train`'s flags
TINY_CLI = ["--set", "width=2", "--set", "latent=8", "--batch-size", "8", "--eval-interval", "2"]


@pytest.fixture(scope="module")
def tone_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tones")
    clips, labels = tone_clips()
    for i, (clip, label) in enumerate(zip(clips, labels)):
        write_wav(folder / f"tone{label}" / f"{i}.wav", clip, 8000)
    return folder


@pytest.fixture(scope="module")  # one per test module: `audio eval` caches a judge in it
def trained_run(tmp_path_factory, tone_folder):
    run = tmp_path_factory.mktemp("cli") / "wavegan"
    out = genlab("audio", "train", str(run), "--model", "wavegan", "--data", str(tone_folder), "--max-steps", "3",
                 "--seed", "0", "--quiet", *TINY_CLI)
    assert out.returncode == 0, out.stderr
    assert "trained wavegan for 3 steps" in out.stdout
    return run
