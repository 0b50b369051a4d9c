"""The judge behind "digits FID": a small classifier trained once, by our own code, on the real images.

Inception-based FID needs a 100 MB network trained on photographs; on 8×8 digits it would measure
nothing useful. A 128-unit MLP that reads digits at ~98 % accuracy gives features that *do* care about
what makes a digit a digit, so the Fréchet distance between its penultimate-layer features of
generated and held-out images says how digit-like and how varied the samples are. Its softmax also
gives the class mix (mode coverage) and confidence of samples.

It is trained with a fixed seed on train + val and cached in the run directory
(``classifier.safetensors`` + ``classifier.json``) keyed by a fingerprint of the data, so every
evaluation of a run — and every run on the same data — is judged by the same network. A folder
without class sub-folders has no labels to learn; there the features are the top principal
components of the pixels ("PCA FID").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genlab.checkpoint import load_tensors, read_json, save_tensors, write_json
from genlab.image.data import ImageData

CLASSIFIER_FILE = "classifier.safetensors"
CLASSIFIER_INFO = "classifier.json"
HIDDEN = 128
SEED = 0


def data_fingerprint(data: ImageData) -> str:
    """Hash of the training images and labels: a cached judge is reused only for the same data."""
    h = hashlib.sha256()
    for split in ("train", "val"):
        h.update(np.ascontiguousarray(data.images[split]).tobytes())
        if data.labels is not None:
            h.update(np.ascontiguousarray(data.labels[split]).tobytes())
    return h.hexdigest()[:16]


class DigitClassifier(nn.Module):
    """pixels → 128 ReLU units (the features) → class logits."""

    def __init__(self, dims: int, classes: int, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(dims, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class FeatureJudge:
    """What the metrics need: ``features(x)`` and, when labels exist, ``probs(x)``."""

    def __init__(self, kind: str, accuracy: float | None, net: DigitClassifier | None = None,
                 mean: np.ndarray | None = None, components: np.ndarray | None = None) -> None:
        self.kind = kind  # "classifier" or "pca"
        self.accuracy = accuracy
        self.net = net
        self.mean, self.components = mean, components

    @property
    def fid_name(self) -> str:
        return "digits FID" if self.kind == "classifier" else "PCA FID"

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> np.ndarray:
        flat = x.detach().float().cpu().reshape(len(x), -1)
        if self.net is not None:
            return self.net.body(flat).numpy().astype(np.float64)
        return (flat.numpy().astype(np.float64) - self.mean) @ self.components.T

    @torch.no_grad()
    def probs(self, x: torch.Tensor) -> np.ndarray | None:
        if self.net is None:
            return None
        return torch.softmax(self.net(x.detach().float().cpu()), dim=-1).numpy()


def train_classifier(data: ImageData, epochs: int = 60, batch_size: int = 64) -> FeatureJudge:
    """Fit the judge on train + val with a fixed seed; its test accuracy is reported with every FID."""
    if data.labels is None or len(data.classes) < 2:
        return _pca_judge(data)
    x = torch.cat([data.tensor("train"), data.tensor("val")])
    y = torch.from_numpy(np.concatenate([data.labels["train"], data.labels["val"]]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        net = DigitClassifier(data.dims, len(data.classes))
        opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
        gen = torch.Generator().manual_seed(SEED)
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for start in range(0, len(x), batch_size):
                idx = order[start:start + batch_size]
                loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    net.eval()
    with torch.no_grad():
        pred = net(data.tensor("test")).argmax(-1).numpy()
    accuracy = float((pred == data.labels["test"]).mean())
    return FeatureJudge("classifier", accuracy, net=net)


def _pca_judge(data: ImageData, components: int = 32) -> FeatureJudge:
    flat = torch.cat([data.tensor("train"), data.tensor("val")]).reshape(-1, data.dims).numpy().astype(np.float64)
    mean = flat.mean(0)
    _, _, vt = np.linalg.svd(flat - mean, full_matrices=False)
    return FeatureJudge("pca", None, mean=mean, components=vt[:min(components, len(vt))])


def cached_judge(run: Path | None, fingerprint: str, judge: str | None = None
                 ) -> tuple[dict, dict[str, torch.Tensor]] | None:
    """The judge cached in ``run`` as (its info, its tensors) when it was made from data of this
    ``fingerprint`` (and, given ``judge``, by that kind of judge); None when there is none to reuse."""
    if run is None:
        return None
    weights, info = Path(run) / CLASSIFIER_FILE, Path(run) / CLASSIFIER_INFO
    if not (weights.is_file() and info.is_file()):
        return None
    meta = read_json(info)
    if meta.get("fingerprint") != fingerprint or (judge is not None and meta.get("judge") != judge):
        return None
    return meta, load_tensors(weights)


def restored_net(make: Callable[[], nn.Module], tensors: dict[str, torch.Tensor]) -> nn.Module:
    """A judge's network rebuilt by ``make`` with the cached weights, in eval mode."""
    with torch.random.fork_rng(devices=[]):  # random init, overwritten: leave the caller's RNG alone
        net = make()
    net.load_state_dict(tensors)
    return net.eval()


def cache_judge(run: Path | None, fitted, fingerprint: str, **info) -> None:
    """Save the judge ``fitted`` (a classifier's weights, or the PCA basis) and what it was made from
    into ``run``; ``info`` adds fields, e.g. ``judge=`` the kind of judge that :func:`cached_judge` checks.

    ``fitted``: anything with ``kind``, ``accuracy`` and either ``net`` or ``mean`` and ``components``
    (the image, audio and video judges)."""
    if run is None:
        return
    if fitted.net is not None:
        tensors = dict(fitted.net.state_dict())
    else:
        tensors = {"mean": torch.from_numpy(fitted.mean), "components": torch.from_numpy(fitted.components)}
    save_tensors(Path(run) / CLASSIFIER_FILE, tensors)
    write_json(Path(run) / CLASSIFIER_INFO, {"kind": fitted.kind, "accuracy": fitted.accuracy,
                                             "fingerprint": fingerprint, **info})


def load_or_train(run: Path | None, data: ImageData) -> FeatureJudge:
    """The cached judge of ``run`` if it was trained on the same data, else a new one (then cached)."""
    fingerprint = data_fingerprint(data)
    cached = cached_judge(run, fingerprint)
    if cached is not None:
        meta, tensors = cached
        if meta.get("kind") == "classifier":
            net = restored_net(lambda: DigitClassifier(data.dims, len(data.classes)), tensors)
            return FeatureJudge("classifier", meta["accuracy"], net=net)
        return FeatureJudge("pca", None, mean=tensors["mean"].numpy(), components=tensors["components"].numpy())
    judge = train_classifier(data)
    cache_judge(run, judge, fingerprint, hidden=HIDDEN, seed=SEED)
    return judge
