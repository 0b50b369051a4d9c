"""The judge of generated clips: the image generators' digit classifier (``genlab.image.classifier``), per frame.

On ``builtin:moving-digits`` it is *the same judge* as the image generators' digits FID — the MLP
trained on scikit-learn's 8×8 digits — reading, in every frame, the 8×8 window with the most ink
(``inkiest_windows``; digits move by whole pixels, so in a real one-digit frame that window is exactly
the digit; where two digits pass close to each other it may straddle both, which is why real
two-digit clips are less often "consistent"). Per-frame FID therefore lives in the same feature space
as the image GAN's digits FID, which is what makes the two comparable.

Other clips (a folder of GIFs) have no 8×8 digits to read: there the same kind of MLP is trained, with
a fixed seed, on every second frame of the training and validation clips labelled with their clip's
class, each frame first re-centred on its centre of mass (an MLP has no translation invariance).

Either way the judge is cached in the run directory (``classifier.safetensors`` + ``classifier.json``)
keyed by a fingerprint of its training data; its features give the per-frame **FID**, its predictions
the **temporal consistency** of a clip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from genlab.image.classifier import (
    DigitClassifier,
    FeatureJudge,
    cache_judge,
    cached_judge,
    data_fingerprint,
    restored_net,
    train_classifier,
)
from genlab.image.data import ImageData
from genlab.video.data import BUILTIN, DIGIT

EPOCHS = 20
FRAME_STEP = 2  # train on every second frame: neighbouring frames are nearly the same picture


def centre_frames(frames: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W]`` → the same frames shifted so each one's centre of mass sits at the middle pixel."""
    n, c, h, w = frames.shape
    mass = frames.sum(1)  # (N, H, W)
    total = mass.sum((1, 2)).clamp_min(1e-6)
    cy = ((mass.sum(2) * torch.arange(h)).sum(1) / total).round().long()
    cx = ((mass.sum(1) * torch.arange(w)).sum(1) / total).round().long()
    padded = torch.nn.functional.pad(frames, (w // 2, w // 2, h // 2, h // 2))
    out = torch.empty_like(frames)
    for i in range(n):  # a window of the padded frame whose middle is the centre of mass
        out[i] = padded[i, :, cy[i]:cy[i] + h, cx[i]:cx[i] + w]
    return out


def inkiest_windows(frames: torch.Tensor, size: int = DIGIT) -> torch.Tensor:
    """``[N, C, H, W]`` → ``[N, C, size, size]``: in each frame, the window with the most ink.

    A digit narrower than 8 pixels fits in several windows; ties go to the window whose centre holds
    the most ink (its inner 6×6, then 4×4, 2×2), which centres the digit as in its original picture."""
    n, c, h, w = frames.shape
    mass = frames.sum(1, keepdim=True).double()
    ink = torch.nn.functional.avg_pool2d(mass, size, stride=1)[:, 0] * size * size  # (N, H−s+1, W−s+1)
    rows_out, cols_out = ink.shape[1:]
    for inner, weight in ((size - 2, 1e-3), (size - 4, 1e-6), (size - 6, 1e-9)):
        if inner < 1:
            break
        off = (size - inner) // 2
        centre = torch.nn.functional.avg_pool2d(mass, inner, stride=1)[:, 0] * inner * inner
        ink = ink + weight * centre[:, off:off + rows_out, off:off + cols_out]
    best = ink.flatten(1).argmax(1)
    rows, cols = best // cols_out, best % cols_out
    out = torch.empty((n, c, size, size), dtype=frames.dtype)
    for i in range(n):
        out[i] = frames[i, :, rows[i]:rows[i] + size, cols[i]:cols[i] + size]
    return out


def to_frames(clips: torch.Tensor, step: int = 1) -> torch.Tensor:
    """Clips ``[N, C, T, H, W]`` → frames ``[N·T', C, H, W]`` (every ``step``-th frame)."""
    clips = clips[:, :, ::step]
    return clips.transpose(1, 2).reshape(-1, clips.shape[1], *clips.shape[3:])


class FrameJudge:
    """Per-frame features and probabilities of clips; ``predictions`` keeps the clip structure.

    ``view`` says what the image judge reads of a frame: ``"digit"`` its inkiest 8×8 window,
    ``"centred"`` the whole frame re-centred on its centre of mass."""

    def __init__(self, judge: FeatureJudge, view: str) -> None:
        self.judge, self.view = judge, view
        self.accuracy = judge.accuracy

    @property
    def fid_name(self) -> str:
        return "per-frame " + self.judge.fid_name

    def _frames(self, clips: torch.Tensor) -> torch.Tensor:
        frames = to_frames(clips.detach().float().cpu())
        return inkiest_windows(frames) if self.view == "digit" else centre_frames(frames)

    def features(self, clips: torch.Tensor) -> np.ndarray:
        return self.judge.features(self._frames(clips))

    def probs(self, clips: torch.Tensor) -> np.ndarray | None:
        return self.judge.probs(self._frames(clips))

    def predictions(self, clips: torch.Tensor) -> np.ndarray | None:
        """Predicted class of every frame, ``[N, T]`` (None without labels)."""
        probs = self.probs(clips)
        return None if probs is None else probs.argmax(1).reshape(len(clips), -1)


def frame_data(data: ImageData) -> ImageData:
    """The clips' frames (every ``FRAME_STEP``-th, re-centred) as an image set labelled by their clip."""
    images, labels = {}, {} if data.labels is not None else None
    for split in ("train", "val", "test"):
        clips = torch.from_numpy(data.images[split])
        frames = centre_frames(to_frames(clips, FRAME_STEP).float()).round().to(torch.uint8).numpy()
        images[split] = frames
        if labels is not None:
            per_clip = clips.shape[2] // FRAME_STEP + (clips.shape[2] % FRAME_STEP > 0)
            labels[split] = np.repeat(data.labels[split], per_clip)
    return ImageData(source=data.source, levels=data.levels, images=images, labels=labels, classes=data.classes)


def load_or_train(run: Path | None, data: ImageData) -> FrameJudge:
    """The frame judge of ``data``: the image generators' digits judge for moving digits (cached by
    ``genlab.image.classifier``), else the cached frame classifier of ``run`` if it was trained on the same
    clips, else a new one (then cached)."""
    if data.source == BUILTIN:
        from genlab.image.classifier import load_or_train as digits_judge
        from genlab.image.data import load_digits

        return FrameJudge(digits_judge(run, load_digits()), view="digit")
    fingerprint = data_fingerprint(data)
    dims = int(np.prod(data.shape[:1] + data.shape[2:]))  # one frame's values
    cached = cached_judge(run, fingerprint, judge="video-frames")
    if cached is not None:
        meta, tensors = cached
        if meta.get("kind") == "classifier":
            net = restored_net(lambda: DigitClassifier(dims, len(data.classes)), tensors)
            return FrameJudge(FeatureJudge("classifier", meta["accuracy"], net=net), view="centred")
        return FrameJudge(FeatureJudge("pca", None, mean=tensors["mean"].numpy(),
                                       components=tensors["components"].numpy()), view="centred")
    judge = train_classifier(frame_data(data), epochs=EPOCHS)
    cache_judge(run, judge, fingerprint, judge="video-frames", epochs=EPOCHS, frame_step=FRAME_STEP)
    return FrameJudge(judge, view="centred")
