from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genlab.errors import GenlabError
from genlab.video.data import load_data, load_folder, moving_digits
from genlab.video.metrics import centres_of_mass, consistency, motion


def test_builder_is_deterministic_in_the_seed():
    a, la = moving_digits(12, seed=5)
    b, lb = moving_digits(12, seed=5)
    c, _ = moving_digits(12, seed=6)
    assert np.array_equal(a, b) and np.array_equal(la, lb) and not np.array_equal(a, c)
    assert a.shape == (12, 1, 16, 32, 32) and a.dtype == np.uint8 and a.max() <= 16


def test_digits_move_and_stay_inside_the_canvas():
    videos, _ = moving_digits(20, seed=0)
    ink = videos.reshape(20, 16, -1).sum(-1)
    assert (ink > 0).all()  # never leaves the canvas
    com = centres_of_mass(torch.from_numpy(videos))
    steps = (com[:, 1:] - com[:, :-1]).norm(dim=-1)
    assert 0.5 < steps.mean() < 3.0  # 1–2 pixels per frame per axis, bounces included


def test_one_digit_clips_reflect_at_the_edges():
    videos, _ = moving_digits(200, seed=1, two_digits=0.0)
    com = centres_of_mass(torch.from_numpy(videos))[..., 1]  # column
    velocity = com[:, 1:] - com[:, :-1]
    assert (velocity[:, 1:] * velocity[:, :-1] < 0).any()  # some clip turns around


def test_motion_and_consistency_measures():
    still = torch.zeros(2, 1, 4, 8, 8)
    still[:, :, :, 2, 2] = 1
    assert motion(still) == 0
    moving = torch.zeros(1, 1, 3, 8, 8)
    for t in range(3):
        moving[0, 0, t, 1, 1 + 2 * t] = 1
    assert motion(moving) == pytest.approx(2.0)
    assert consistency(np.array([[1, 1, 1], [1, 2, 1]])) == 0.5


def _gif(path, frames, size=(20, 20)):
    images = [Image.fromarray(np.full(size[::-1], 10 * i, dtype=np.uint8)) for i in range(frames)]
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=50)


def test_gif_folder_is_read_resized_with_classes(tmp_path):
    for cls in ("a", "b"):
        for i in range(6):
            _gif(tmp_path / cls / f"{i}.gif", 18, size=(40, 30))
    data = load_folder(tmp_path, frames=16, size=32)
    assert data.shape == (1, 16, 32, 32) and data.classes == ["a", "b"] and data.levels == 256


def _cut_noise_gif(path, frames=8, size=16):
    """An animated GIF of noise (so every frame takes room) cut at 2/3: the header reads, a later frame breaks off."""
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)) for _ in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=50)
    whole = path.read_bytes()
    path.write_bytes(whole[:len(whole) * 2 // 3])


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(b""), "empty"),
    (_cut_noise_gif, "bad.gif is truncated or corrupt; remove or replace it"),
    (lambda p: p.write_bytes(b"GIF89a garbage"), "not a readable GIF"),
    (lambda p: _gif(p, 3), "3 frame"),
    (lambda p: Image.new("L", (8, 8)).save(p, format="PNG"), "not a GIF"),
])
def test_bad_gifs_are_one_line_errors(tmp_path, make, message):
    path = tmp_path / "clips" / "bad.gif"
    path.parent.mkdir()
    make(path)
    with pytest.raises(GenlabError, match=message) as info:
        load_folder(tmp_path / "clips", frames=8, size=16)
    assert "bad.gif" in str(info.value) and "\n" not in str(info.value)


def test_a_single_gif_is_counted_as_a_clip(tmp_path):
    _gif(tmp_path / "a.gif", 16)
    with pytest.raises(GenlabError, match="only 1 clips: need at least 10 to keep train, validation and test clips"):
        load_folder(tmp_path)


@pytest.mark.parametrize(("spec", "message"), [("/no/such", "not found"), ("builtin:mnist", "unknown built-in")])
def test_bad_specs(spec, message):
    with pytest.raises(GenlabError, match=message):
        load_data(spec)
