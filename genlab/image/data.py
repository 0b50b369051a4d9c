"""The images the generators learn from: scikit-learn's bundled digits, or a user's folder of pictures.

Images are kept as small integers — the *levels* a pixel can take (17 for the 8×8 digits, whose pixels
count 0–16 pen strokes; 256 for 8-bit PNG/JPEG) — because likelihood models are scored on exactly those
discrete values (bits per dimension). Models see ``level / (levels - 1)`` in [0, 1].

The split is fixed (its own seed, not the training seed) so every run and every family is measured
against the same held-out images: 30 % test (the reference set of the metrics), and 10 % of the rest as
validation for early stopping; the classifier behind "digits FID" learns from train + val.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from genlab.errors import GenlabError

if TYPE_CHECKING:
    from PIL.Image import Image as Picture

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SPLIT_SEED = 0
TEST_FRACTION = 0.3
VAL_FRACTION = 0.1  # of what is left after the test split
MIN_IMAGES = 10
#: what Pillow raises when a file's header reads but its pixels do not (a file cut short or damaged):
#: its decoders index, unpack and read past the end of the data they were promised
DECODE_ERRORS = (OSError, ValueError, EOFError, IndexError, KeyError, TypeError, SyntaxError, struct.error)


@dataclass
class ImageData:
    """Three splits of integer-valued images ``[N, C, H, W]`` (uint8 levels) with optional class labels."""

    source: str
    levels: int
    images: dict[str, np.ndarray]
    labels: dict[str, np.ndarray] | None = None
    classes: list[str] = field(default_factory=list)
    skipped: int = 0  # files in a folder that were not images (reported by the CLI)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.images["train"].shape[1:])  # type: ignore[return-value]

    @property
    def dims(self) -> int:
        return int(np.prod(self.shape))

    def count(self, split: str) -> int:
        return int(self.images[split].shape[0])

    def tensor(self, split: str, device: str = "cpu") -> torch.Tensor:
        """Float images in [0, 1]: what every model takes as input."""
        return torch.from_numpy(self.images[split].astype(np.float32) / (self.levels - 1)).to(device)

    def describe(self) -> dict:
        return {"source": self.source, "levels": self.levels, "shape": list(self.shape), "classes": self.classes,
                "counts": {s: self.count(s) for s in SPLITS}, "split_seed": SPLIT_SEED}


def split_indices(n: int, seed: int = SPLIT_SEED, unit: str = "images") -> dict[str, np.ndarray]:
    """Deterministic train/val/test index sets (30 % test, 10 % of the rest for validation).

    ``unit`` names the examples in the error (audio and video data split clips, not images).
    """
    if n < MIN_IMAGES:
        raise GenlabError(f"only {n} {unit}: need at least {MIN_IMAGES} to keep train, validation and test {unit}; "
                          "add more")
    order = np.random.default_rng(seed).permutation(n)
    n_test = int(round(TEST_FRACTION * n))
    n_val = max(1, int(round(VAL_FRACTION * (n - n_test))))
    return {"test": np.sort(order[:n_test]), "val": np.sort(order[n_test:n_test + n_val]),
            "train": np.sort(order[n_test + n_val:])}


def _split(source: str, levels: int, images: np.ndarray, labels: np.ndarray | None, classes: list[str],
           skipped: int = 0, unit: str = "images") -> ImageData:
    idx = split_indices(len(images), unit=unit)
    return ImageData(source=source, levels=levels, images={s: images[idx[s]] for s in SPLITS},
                     labels=None if labels is None else {s: labels[idx[s]] for s in SPLITS},
                     classes=classes, skipped=skipped)


def keep_fraction(data: ImageData, fraction: float, seed: int) -> ImageData:
    """The same data with only ``fraction`` of the training images (a seeded choice; val/test unchanged)."""
    n = data.count("train")
    keep = np.sort(np.random.default_rng([seed, 17]).permutation(n)[:max(1, round(n * fraction))])
    images = {**data.images, "train": data.images["train"][keep]}
    labels = None if data.labels is None else {**data.labels, "train": data.labels["train"][keep]}
    return ImageData(source=f"{data.source} (train ×{fraction:g})", levels=data.levels, images=images, labels=labels,
                     classes=data.classes, skipped=data.skipped)


def load_digits() -> ImageData:
    """The 1,797 8×8 handwritten digits that ship inside scikit-learn (no download)."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:
        raise GenlabError("builtin:digits needs scikit-learn: pip install 'genlab[image]'") from exc
    bunch = sk_load_digits()
    images = bunch.images.astype(np.uint8)[:, None, :, :]  # (N, 1, 8, 8), values 0..16
    return _split("builtin:digits", 17, images, bunch.target.astype(np.int64), [str(d) for d in range(10)])


def _image_files(folder: Path) -> tuple[list[Path], int]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(folder).parts))
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    return images, len(files) - len(images)


def load_folder(path: str | Path, size: int = 32, channels: int | None = None) -> ImageData:
    """Every PNG/JPEG under ``path``, centre-cropped to a square and resized to ``size``×``size``.

    Sub-folders one level down name the classes (``DIR/cat/1.png``), which lets the metrics train a
    classifier; a flat folder has no labels. ``channels`` 1 or 3 (default: 1 if every image is grey).
    """
    from PIL import Image

    folder = Path(path)
    if not folder.exists():
        raise GenlabError(f"image folder {folder} not found: pass builtin:digits or a folder of PNG/JPEG files")
    if not folder.is_dir():
        raise GenlabError(f"{folder} is not a folder: pass builtin:digits or a folder of PNG/JPEG files")
    files, skipped = _image_files(folder)
    if not files:
        other = f" ({skipped} other files)" if skipped else ""
        raise GenlabError(f"image folder {folder} has no PNG/JPEG images{other}; add .png/.jpg files")
    pictures = [_read_image(file) for file in files]
    if channels is None:
        channels = 1 if all(im.mode in ("1", "L", "LA", "I", "I;16", "F") for im in pictures) else 3
    mode = "L" if channels == 1 else "RGB"
    arrays = [np.asarray(_square(im.convert(mode)).resize((size, size), Image.Resampling.BILINEAR))
              for im in pictures]
    stacked = np.stack(arrays).astype(np.uint8)
    stacked = stacked[:, None] if channels == 1 else stacked.transpose(0, 3, 1, 2)

    parents = [f.relative_to(folder).parts for f in files]
    labels, classes = None, []
    if all(len(p) == 2 for p in parents) and len({p[0] for p in parents}) >= 2:
        classes = sorted({p[0] for p in parents})
        labels = np.array([classes.index(p[0]) for p in parents], dtype=np.int64)
    return _split(str(folder), 256, stacked, labels, classes, skipped)


def _read_image(file: Path) -> Picture:
    """One picture, fully decoded: an unreadable header and pixels that fail part-way are different errors."""
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(file)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise GenlabError(f"{file} is not a readable PNG/JPEG image ({type(exc).__name__}); "
                          "remove or replace it") from exc
    with im:
        try:
            im.load()
            return im.copy()
        except Image.DecompressionBombError as exc:
            raise GenlabError(f"{file} is too large to decode ({exc}); shrink or remove it") from exc
        except DECODE_ERRORS as exc:
            raise GenlabError(f"{file} is truncated or corrupt; remove or replace it") from exc


def _square(im):
    """Centre-crop to a square so resizing never distorts the picture."""
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return im.crop((left, top, left + side, top + side))


def load_data(spec: str, size: int = 32, channels: int | None = None) -> ImageData:
    """``builtin:digits`` or a folder path."""
    if spec.startswith("builtin:"):
        if spec != "builtin:digits":
            raise GenlabError(f"unknown built-in image set {spec!r}; available: builtin:digits")
        return load_digits()
    return load_folder(spec, size=size, channels=channels)


# --- kept in the run directory, so sampling/eval/resume never depend on the folder still being there ---

def to_arrays(data: ImageData) -> dict[str, np.ndarray]:
    arrays = {f"images.{s}": np.ascontiguousarray(data.images[s]) for s in SPLITS}
    if data.labels is not None:
        arrays.update({f"labels.{s}": np.ascontiguousarray(data.labels[s]) for s in SPLITS})
    return arrays


def from_arrays(arrays: dict[str, np.ndarray], description: dict, cls: type[ImageData] = ImageData) -> ImageData:
    """The data saved by ``to_arrays``, as ``cls`` (``ImageData`` or a subclass: audio clips, video clips)."""
    try:
        images = {s: arrays[f"images.{s}"] for s in SPLITS}
    except KeyError as exc:
        raise GenlabError(f"the run's data file lacks {exc}; retrain the run") from exc
    labels = {s: arrays[f"labels.{s}"] for s in SPLITS} if "labels.train" in arrays else None
    return cls(source=description["source"], levels=int(description["levels"]), images=images,
               labels=labels, classes=list(description.get("classes", [])))
