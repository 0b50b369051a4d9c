from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from genlab.errors import GenlabError
from genlab.image.data import SPLITS, from_arrays, load_data, load_folder, split_indices, to_arrays


def _write_images(folder, n, size=(12, 10), mode="L", prefix="img", seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"{prefix}{i}.png")


def test_digits_are_8x8_with_17_levels_and_a_fixed_70_30_split(digits):
    assert digits.shape == (1, 8, 8) and digits.levels == 17
    counts = {s: digits.count(s) for s in SPLITS}
    assert sum(counts.values()) == 1797
    assert counts["test"] == 539 and counts["val"] == 126
    assert digits.images["train"].max() == 16 and digits.images["train"].min() == 0
    x = digits.tensor("val")
    assert x.dtype.is_floating_point and float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert set(np.unique(digits.labels["test"])) == set(range(10))


def test_split_is_deterministic_and_disjoint():
    a, b = split_indices(100), split_indices(100)
    for s in SPLITS:
        assert np.array_equal(a[s], b[s])
    joined = np.concatenate([a[s] for s in SPLITS])
    assert sorted(joined.tolist()) == list(range(100))


def test_folder_with_class_subfolders_gives_labels_and_resized_grey_images(tmp_path):
    _write_images(tmp_path / "cats", 8, prefix="c")
    _write_images(tmp_path / "dogs", 8, prefix="d", seed=1)
    (tmp_path / "README.txt").write_text("not an image")
    data = load_folder(tmp_path, size=8)
    assert data.shape == (1, 8, 8) and data.levels == 256
    assert data.classes == ["cats", "dogs"]
    assert data.skipped == 1
    assert sum(data.count(s) for s in SPLITS) == 16


def test_flat_folder_of_rgb_jpegs_has_no_labels(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8), "RGB").save(tmp_path / f"{i}.jpg")
    data = load_folder(tmp_path, size=16)
    assert data.shape == (3, 16, 16)
    assert data.labels is None
    assert load_folder(tmp_path, size=8, channels=1).shape == (1, 8, 8)


def test_run_arrays_round_trip(digits):
    back = from_arrays(to_arrays(digits), digits.describe())
    for s in SPLITS:
        assert np.array_equal(back.images[s], digits.images[s])
        assert np.array_equal(back.labels[s], digits.labels[s])


@pytest.mark.parametrize("case", ["missing", "file", "empty", "only-text", "corrupt", "truncated", "too-few",
                                  "builtin"])
def test_bad_folders_raise_one_clear_error(tmp_path, case):
    spec = tmp_path / "data"
    if case == "file":
        spec.write_text("hello")
    elif case == "empty":
        spec.mkdir()
    elif case == "only-text":
        spec.mkdir()
        (spec / "a.txt").write_text("hello")
    elif case == "corrupt":
        _write_images(spec, 12)
        (spec / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    elif case == "truncated":  # the header reads, the pixels break off (a copy cut short)
        _write_images(spec, 12)
        whole = (spec / "img0.png").read_bytes()
        (spec / "img0.png").write_bytes(whole[:len(whole) * 2 // 3])
    elif case == "too-few":
        _write_images(spec, 3)
    elif case == "builtin":
        spec = "builtin:cifar"
    with pytest.raises(GenlabError) as err:
        load_data(str(spec), size=8)
    message = str(err.value)
    assert "\n" not in message
    expected = {"missing": "not found", "file": "not a folder", "empty": "no PNG/JPEG", "only-text": "1 other",
                "corrupt": "broken.png", "truncated": "img0.png is truncated or corrupt; remove or replace it",
                "too-few": "only 3 images", "builtin": "builtin:digits"}[case]
    assert expected in message
