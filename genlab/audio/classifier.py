"""The judge of generated sound: a small spoken-word classifier trained once, by our own code, on the real clips.

Like the image generators' digits FID (``genlab.image.classifier``), the numbers for generated audio
come from a network that knows what the real words sound like: a small CNN over log-mel spectrograms
(``genlab.audio.spectrogram``) trained with a fixed seed on train + validation clips. Its softmax gives
the **inception score** (Salimans et al. 2016, used for WaveGAN on SC09) and its 64 pooled features
the **Fréchet distance**. It is cached in the run directory (``classifier.safetensors`` +
``classifier.json``), keyed by a fingerprint of the data, so every evaluation of a run uses the same
judge. A folder without class sub-folders has no words to learn; there the features are the top
principal components of the log-mel spectrogram and no inception score is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from genlab.audio.data import AudioData
from genlab.audio.spectrogram import log_mel
from genlab.image.classifier import cache_judge, cached_judge, data_fingerprint, restored_net

WIDTH = 16
SEED = 0
EPOCHS = 30


class WordClassifier(nn.Module):
    """log-mel ``[B, 1, 40, frames]`` → three conv/pool stages → 64 averaged features → word logits."""

    def __init__(self, classes: int, width: int = WIDTH) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(1)  # spectrogram levels vary with loudness: learn one offset and scale
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.BatchNorm2d(4 * width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 4·width)
        self.head = nn.Linear(4 * width, classes)

    def features(self, spec: torch.Tensor) -> torch.Tensor:
        return self.body(self.norm(spec))

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(spec))


class AudioJudge:
    """What the metrics need: ``features(clips)`` and, when the data has words, ``probs(clips)``."""

    def __init__(self, kind: str, accuracy: float | None, sample_rate: int, net: WordClassifier | None = None,
                 mean: np.ndarray | None = None, components: np.ndarray | None = None) -> None:
        self.kind, self.accuracy, self.sample_rate = kind, accuracy, sample_rate
        self.net, self.mean, self.components = net, mean, components

    @property
    def fid_name(self) -> str:
        return "Fréchet distance (classifier features)" if self.kind == "classifier" else "Fréchet distance (PCA)"

    @torch.no_grad()
    def _batched(self, clips: torch.Tensor, fn) -> np.ndarray:
        return np.concatenate([fn(log_mel(clips[i:i + 256], self.sample_rate)).numpy()
                               for i in range(0, len(clips), 256)]).astype(np.float64)

    def features(self, clips: torch.Tensor) -> np.ndarray:
        if self.net is not None:
            return self._batched(clips, self.net.features)
        flat = self._batched(clips, lambda s: s.reshape(len(s), -1))
        return (flat - self.mean) @ self.components.T

    def probs(self, clips: torch.Tensor) -> np.ndarray | None:
        if self.net is None:
            return None
        return self._batched(clips, lambda s: torch.softmax(self.net(s), dim=-1))


def train_classifier(data: AudioData, epochs: int = EPOCHS, batch_size: int = 64, quiet: bool = True) -> AudioJudge:
    """Fit the judge on train + val with a fixed seed (random time shifts as augmentation); reports test accuracy."""
    if data.labels is None or len(data.classes) < 2:
        return _pca_judge(data)
    from tqdm.auto import tqdm

    spectra = log_mel(torch.cat([data.tensor("train"), data.tensor("val")]), data.sample_rate)  # once
    y = torch.from_numpy(np.concatenate([data.labels["train"], data.labels["val"]]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        net = WordClassifier(len(data.classes))
        opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)  # settle into a minimum at the end
        gen = torch.Generator().manual_seed(SEED)
        for _ in tqdm(range(epochs), desc="training the audio judge", unit="epoch", disable=quiet):
            order = torch.randperm(len(spectra), generator=gen)
            for start in range(0, len(spectra), batch_size):
                idx = order[start:start + batch_size]
                shift = int(torch.randint(-3, 4, (), generator=gen))  # ±3 frames (±48 ms): words start anywhere
                spec = torch.roll(spectra[idx], shift, dims=-1)
                net.train()
                loss = nn.functional.cross_entropy(net(spec), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            schedule.step()
    net.eval()
    judge = AudioJudge("classifier", None, data.sample_rate, net=net)
    pred = judge.probs(data.tensor("test")).argmax(1)
    judge.accuracy = float((pred == data.labels["test"]).mean())
    return judge


def _pca_judge(data: AudioData, components: int = 32) -> AudioJudge:
    spec = log_mel(torch.cat([data.tensor("train"), data.tensor("val")]), data.sample_rate)
    flat = spec.reshape(len(spec), -1).numpy().astype(np.float64)
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    return AudioJudge("pca", None, data.sample_rate, mean=mean, components=vt[:min(components, len(vt))])


def cached(run: Path | None, data: AudioData) -> AudioJudge | None:
    """The judge ``genlab audio eval`` cached in ``run`` for these clips, or None (nothing is trained)."""
    found = cached_judge(run, data_fingerprint(data), judge="audio")
    if found is None:
        return None
    meta, tensors = found
    if meta.get("kind") == "classifier":
        net = restored_net(lambda: WordClassifier(len(data.classes)), tensors)
        return AudioJudge("classifier", meta["accuracy"], data.sample_rate, net=net)
    return AudioJudge("pca", None, data.sample_rate, mean=tensors["mean"].numpy(),
                      components=tensors["components"].numpy())


def load_or_train(run: Path | None, data: AudioData, quiet: bool = True) -> AudioJudge:
    """The cached judge of ``run`` if it was trained on the same clips, else a new one (then cached)."""
    judge = cached(run, data)
    if judge is None:
        judge = train_classifier(data, quiet=quiet)
        cache_judge(run, judge, data_fingerprint(data), judge="audio", width=WIDTH, seed=SEED, epochs=EPOCHS)
    return judge
