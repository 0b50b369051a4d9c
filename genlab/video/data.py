"""The clips the video generator learns from: ``builtin:moving-digits`` or a folder of animated GIFs.

``builtin:moving-digits`` is the Moving MNIST recipe (Srivastava et al. 2015) at a CPU's scale: one
(three clips in four) or two of scikit-learn's bundled 8×8 digits (no download) move inside a 32×32
black canvas for 16 frames,
each with its own constant velocity of 1–2 pixels per frame on each axis, reflecting off the edges;
overlapping digits combine by taking the brighter pixel. The two digits of a clip are two different
handwritten samples *of the same digit*, so every clip has one label — which the evaluation needs to
tell whether a generated clip keeps its identity from frame to frame. Everything is drawn from the seed.

Clips are kept as integer levels ``[N, C, T, H, W]`` in the image generators' container
(``genlab.image.data.ImageData``: the same fixed split, saved into the run directory); models see
``level / (levels − 1)`` in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genlab.errors import GenlabError
from genlab.image.data import ImageData, _split

BUILTIN = "builtin:moving-digits"
FRAMES = 16
SIZE = 32
CLIPS = 1500
DIGIT = 8  # sklearn digits are 8×8
TWO_DIGITS = 0.25  # share of clips with two digits (they cross and overlap, which blurs what a frame shows)


class VideoData(ImageData):
    """Three splits of clips ``[N, C, T, H, W]`` (integer levels) with optional labels."""

    @property
    def frames(self) -> int:
        return int(self.images["train"].shape[2])


def _as_video(data: ImageData) -> VideoData:
    return VideoData(source=data.source, levels=data.levels, images=data.images, labels=data.labels,
                     classes=data.classes, skipped=data.skipped)


def moving_digits(clips: int = CLIPS, seed: int = 0, frames: int = FRAMES, size: int = SIZE,
                  two_digits: float = TWO_DIGITS) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 clips ``[N, 1, frames, size, size]`` with levels 0–16, labels ``[N]``), deterministic in ``seed``."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise GenlabError(f"{BUILTIN} needs scikit-learn: pip install 'genlab[image]'") from exc
    if size < DIGIT + 4:
        raise GenlabError(f"the canvas must be at least {DIGIT + 4} pixels wide for digits to move; got {size}")
    bunch = load_digits()
    images, targets = bunch.images.astype(np.uint8), bunch.target
    by_class = [np.flatnonzero(targets == c) for c in range(10)]
    rng = np.random.default_rng(seed)
    out = np.zeros((clips, 1, frames, size, size), dtype=np.uint8)
    labels = rng.integers(0, 10, clips)
    room = size - DIGIT  # top-left corners live in [0, room]
    for i in range(clips):
        count = 2 if rng.random() < two_digits else 1
        picks = rng.choice(by_class[labels[i]], size=count, replace=False)
        pos = rng.integers(0, room + 1, (count, 2)).astype(np.int64)
        vel = rng.integers(1, 3, (count, 2)) * rng.choice([-1, 1], (count, 2))
        for t in range(frames):
            for k in range(count):
                y, x = pos[k]
                patch = out[i, 0, t, y:y + DIGIT, x:x + DIGIT]
                np.maximum(patch, images[picks[k]], out=patch)
            nxt = pos + vel
            bounce = (nxt < 0) | (nxt > room)
            vel[bounce] *= -1
            pos = np.clip(pos + vel, 0, room)
    return out, labels.astype(np.int64)


def load_moving_digits(clips: int = CLIPS, seed: int = 0) -> VideoData:
    if clips < 10:
        raise GenlabError(f"--clips {clips}: need at least 10 clips to keep train, validation and test clips")
    videos, labels = moving_digits(clips, seed)
    return _as_video(_split(BUILTIN, 17, videos, labels, [str(d) for d in range(10)], unit="clips"))


def _read_gif(path: Path, frames: int, size: int) -> np.ndarray:
    """The first ``frames`` frames of an animated GIF, greyscale, centre-cropped, resized: ``[frames, size, size]``.

    A file whose header reads but whose frames do not (cut short by a copy, damaged on disk) fails inside
    Pillow's frame decoder with whatever that decoder trips on (``IndexError``, ``struct.error``, ``OSError``
    "image file is truncated"), so every failure after the header is the one error "truncated or corrupt".
    """
    from PIL import Image, ImageSequence, UnidentifiedImageError

    from genlab.image.data import DECODE_ERRORS, _square

    try:
        if path.stat().st_size == 0:
            raise GenlabError(f"{path} is empty (0 bytes); remove it or replace it with an animated GIF")
        im = Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        raise GenlabError(f"{path} is not a readable GIF ({type(exc).__name__}); remove or replace it") from exc
    with im:
        if im.format != "GIF":
            raise GenlabError(f"{path} is a {im.format} file, not a GIF; convert it or remove it")
        out = []
        try:
            for frame in ImageSequence.Iterator(im):
                out.append(np.asarray(_square(frame.convert("L")).resize((size, size), Image.Resampling.BILINEAR)))
                if len(out) == frames:
                    break
        except Image.DecompressionBombError as exc:  # a frame claims a huge size
            raise GenlabError(f"{path} is too large to decode ({exc}); shrink or remove it") from exc
        except DECODE_ERRORS as exc:
            raise GenlabError(f"{path} is truncated or corrupt; remove or replace it") from exc
    if len(out) < frames:
        raise GenlabError(f"{path} has {len(out)} frame(s); clips need at least {frames} "
                          "(pass a smaller --frames or remove it)")
    return np.stack(out).astype(np.uint8)


def load_folder(path: str | Path, frames: int = FRAMES, size: int = SIZE) -> VideoData:
    """Every ``*.gif`` under ``path`` as a greyscale clip; sub-folders one level down name the classes."""
    folder = Path(path)
    if not folder.exists():
        raise GenlabError(f"video folder {folder} not found: pass {BUILTIN} or a folder of animated GIFs")
    if not folder.is_dir():
        raise GenlabError(f"{folder} is not a folder: pass {BUILTIN} or a folder of animated GIFs")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(folder).parts))
    gifs = [p for p in files if p.suffix.lower() == ".gif"]
    skipped = len(files) - len(gifs)
    if not gifs:
        other = f" ({skipped} other files)" if skipped else ""
        raise GenlabError(f"video folder {folder} has no .gif files{other}; add animated GIFs")
    videos = np.stack([_read_gif(f, frames, size) for f in gifs])[:, None]  # (N, 1, T, H, W)
    parents = [f.relative_to(folder).parts for f in gifs]
    labels, classes = None, []
    if all(len(p) == 2 for p in parents) and len({p[0] for p in parents}) >= 2:
        classes = sorted({p[0] for p in parents})
        labels = np.array([classes.index(p[0]) for p in parents], dtype=np.int64)
    return _as_video(_split(str(folder), 256, videos, labels, classes, skipped, unit="clips"))


def load_data(spec: str, clips: int = CLIPS, seed: int = 0, frames: int = FRAMES, size: int = SIZE) -> VideoData:
    """``builtin:moving-digits`` or a folder of animated GIFs."""
    if spec.startswith("builtin:"):
        if spec != BUILTIN:
            raise GenlabError(f"unknown built-in video set {spec!r}; available: {BUILTIN}")
        return load_moving_digits(clips, seed)
    return load_folder(spec, frames, size)


def background_level(data: VideoData) -> float:
    """Mean brightness (0 black … 1 white) of the training clips' frame borders (the outer 2 pixels):
    what the background is, for the object generator, which draws its objects on black by default."""
    clips = data.images["train"]
    border = np.concatenate([clips[..., :2, :].ravel(), clips[..., -2:, :].ravel(),
                             clips[..., 2:-2, :2].ravel(), clips[..., 2:-2, -2:].ravel()])
    return float(border.mean() / (data.levels - 1)) if border.size else 0.0
