"""The sounds the audio generators learn from: ``builtin:spoken-digits`` or a folder of WAV files.

Clips are kept as 16-bit PCM integers ``[N, 1, T]`` (``levels`` = 65,536), exactly what a WAV file
holds, in the same container as images (``genlab.image.data.ImageData``: the fixed 30 % test / 10 %
validation split, saved into the run directory so sampling, evaluation and resume never need the
source again). Models see floats in [-1, 1), the convention of audio code everywhere.

Every clip is ``CLIP_SECONDS`` long at ``SAMPLE_RATE`` Hz, mono; shorter WAV files are padded with
silence, anything else is refused with a one-line error naming the file (``genlab.audio.wav``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.image.data import ImageData, _split

SAMPLE_RATE = 8000
CLIP_SECONDS = 1.0
CLIP_LENGTH = int(SAMPLE_RATE * CLIP_SECONDS)
LEVELS = 65536
BUILTIN = "builtin:spoken-digits"


class AudioData(ImageData):
    """Three splits of int16 clips ``[N, 1, T]`` with optional word labels (``classes``)."""

    sample_rate = SAMPLE_RATE

    def tensor(self, split: str, device: str = "cpu") -> torch.Tensor:
        """Float samples in [-1, 1): what every audio model takes and gives."""
        return torch.from_numpy(self.images[split].astype(np.float32) / 32768.0).to(device)

    def describe(self) -> dict:
        return {**super().describe(), "sample_rate": self.sample_rate}


def from_clips(source: str, clips: np.ndarray, labels: np.ndarray | None, classes: list[str],
               skipped: int = 0) -> AudioData:
    """Split int16 clips ``[N, T]`` into train/val/test (the fixed split every family shares)."""
    split = _split(source, LEVELS, clips.astype(np.int16)[:, None, :], labels, classes, skipped, unit="clips")
    return AudioData(source=split.source, levels=split.levels, images=split.images, labels=split.labels,
                     classes=split.classes, skipped=split.skipped)


def load_folder(path: str | Path) -> AudioData:
    """Every ``*.wav`` under ``path`` (8 kHz, mono, 16-bit, at most 1 s); sub-folders one level down name
    the classes (``DIR/yes/1.wav``), which the evaluation's classifier needs to learn words."""
    from genlab.audio.wav import read_clip

    folder = Path(path)
    if not folder.exists():
        raise GenlabError(f"audio folder {folder} not found: pass {BUILTIN} or a folder of WAV files")
    if not folder.is_dir():
        raise GenlabError(f"{folder} is not a folder: pass {BUILTIN} or a folder of WAV files")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(folder).parts))
    wavs = [p for p in files if p.suffix.lower() == ".wav"]
    skipped = len(files) - len(wavs)
    if not wavs:
        other = f" ({skipped} other files)" if skipped else ""
        raise GenlabError(f"audio folder {folder} has no .wav files{other}; add 8 kHz mono 16-bit WAV clips")
    clips = np.stack([read_clip(f, SAMPLE_RATE, CLIP_LENGTH) for f in wavs])
    parents = [f.relative_to(folder).parts for f in wavs]
    labels, classes = None, []
    if all(len(p) == 2 for p in parents) and len({p[0] for p in parents}) >= 2:
        classes = sorted({p[0] for p in parents})
        labels = np.array([classes.index(p[0]) for p in parents], dtype=np.int64)
    return from_clips(str(folder), clips, labels, classes, skipped)


def load_data(spec: str, data_dir: str | Path | None = None, clips_per_word: int | None = None,
              seed: int = 0, quiet: bool = False) -> AudioData:
    """``builtin:spoken-digits`` (synthesised once, then read from the cache) or a folder of WAV files."""
    if spec.startswith("builtin:"):
        if spec != BUILTIN:
            raise GenlabError(f"unknown built-in audio set {spec!r}; available: {BUILTIN}")
        from genlab.audio import spoken_digits

        kwargs = {} if clips_per_word is None else {"clips_per_word": clips_per_word}
        return spoken_digits.load(data_dir=data_dir, seed=seed, quiet=quiet, **kwargs)
    return load_folder(spec)
