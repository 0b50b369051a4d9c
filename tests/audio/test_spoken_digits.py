from __future__ import annotations

import numpy as np
import pytest

from genlab.audio import espeak, spoken_digits
from genlab.audio.data import CLIP_LENGTH
from genlab.errors import GenlabError

from .conftest import needs_espeak


@needs_espeak
def test_build_is_deterministic_in_the_seed_and_cached_outside_the_repo(tmp_path, monkeypatch):
    a = spoken_digits.load(tmp_path / "one", clips_per_word=1, seed=3, quiet=True)
    b = spoken_digits.load(tmp_path / "two", clips_per_word=1, seed=3, quiet=True)
    for split in ("train", "val", "test"):
        assert np.array_equal(a.images[split], b.images[split])
        assert np.array_equal(a.labels[split], b.labels[split])
    cached = list((tmp_path / "one").glob("spoken-digits-seed3-n1-*.safetensors"))
    assert len(cached) == 1

    def no_synthesis(*args, **kwargs):
        raise AssertionError("a cached set must not be synthesised again")

    monkeypatch.setattr(espeak, "speak", no_synthesis)
    again = spoken_digits.load(tmp_path / "one", clips_per_word=1, seed=3, quiet=True)
    assert np.array_equal(again.images["train"], a.images["train"])


@needs_espeak
def test_clips_are_one_second_8khz_words_in_both_languages(tmp_path):
    data = spoken_digits.load(tmp_path, clips_per_word=1, seed=0, quiet=True)
    assert data.shape == (1, CLIP_LENGTH) and data.sample_rate == 8000 and len(data.classes) == 20
    assert data.classes[0] == "en:zero" and data.classes[10] == "ko:영"
    labels = np.concatenate([data.labels[s] for s in ("train", "val", "test")])
    assert sorted(labels.tolist()) == list(range(20))  # every word once
    clips = np.concatenate([data.images[s] for s in ("train", "val", "test")])[:, 0].astype(np.float64) / 32768
    peaks = np.abs(clips).max(1)
    assert ((peaks > 0.3) & (peaks < 0.95)).all()  # spoken at a level, not clipped
    noise_floor = np.abs(clips[:, -200:]).std(1)  # the end of a 1 s clip is (mostly) the added noise
    assert (noise_floor > 0).all()


@needs_espeak
def test_different_seeds_give_different_takes(tmp_path):
    a = spoken_digits.load(tmp_path, clips_per_word=1, seed=0, quiet=True)
    b = spoken_digits.load(tmp_path, clips_per_word=1, seed=1, quiet=True)
    assert not np.array_equal(a.images["train"], b.images["train"])


def test_recipe_draws_voices_pitches_and_speeds_from_the_seed():
    first, second = spoken_digits.takes(4, seed=0), spoken_digits.takes(4, seed=0)
    assert first == second and first != spoken_digits.takes(4, seed=1)
    assert len(first) == 80 and len({t["voice"] for t in first}) > 5
    assert {t["word"] for t in first if t["label"] >= 10} == set(spoken_digits.WORDS["ko"])


def test_missing_espeak_is_one_line_naming_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(espeak.shutil, "which", lambda name: None)
    with pytest.raises(GenlabError, match="install the Debian package espeak-ng") as info:
        spoken_digits.load(tmp_path, clips_per_word=1, seed=0, quiet=True)
    assert "\n" not in str(info.value)


def test_default_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GENLAB_DATA_DIR", str(tmp_path / "d"))
    assert spoken_digits.default_data_dir() == tmp_path / "d"
    monkeypatch.delenv("GENLAB_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert spoken_digits.default_data_dir() == tmp_path / "c" / "genlab"
