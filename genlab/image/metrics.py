"""Numbers that mean something for small image generators, each with the baseline that makes it readable.

- **digits FID**: Fréchet distance between Gaussians fitted to the judge's penultimate features
  (``genlab.image.classifier``) of generated and held-out test images. Reported next to *real vs
  real* (training images vs the same held-out images, same count — the floor a perfect model can
  reach with this many samples) and *uniform noise* (the ceiling of a useless one).
- **mode coverage**: the judge's class histogram of the samples: how many classes get at least a
  quarter of their fair share, and the total-variation distance to the held-out class mix.
- **confidence**: the judge's mean top-class probability: blurry in-between digits score low.
- **k-NN precision / recall** (k = 3, Kynkäänniemi et al. 2019): the share of samples that fall inside
  the real images' k-NN balls (quality), and of real images inside the samples' balls (diversity).
- **memorisation**: mean pixel distance from each sample to its nearest *training* image over the same
  for held-out real images. Near 1: new images; well below 1: the model copies its training set
  (which can also buy a low FID).
- **bits/dim**: negative log-likelihood of held-out images per pixel value, in bits (likelihood models).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from genlab.image.classifier import FeatureJudge
from genlab.image.data import ImageData

KNN_K = 3


def generated_vs_real_dict(report) -> dict:
    """A report with ``generated`` and ``real`` score dataclasses as one flat dict: its own fields, the
    generated scores as they are, the real ones prefixed ``real_`` (the audio and video reports' JSON)."""
    out = {k: v for k, v in asdict(report).items() if k not in ("generated", "real")}
    out.update(asdict(report.generated))
    out.update({f"real_{k}": v for k, v in asdict(report.real).items()})
    return out


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``|μa − μb|² + tr(Σa + Σb − 2 (Σa Σb)^½)`` between Gaussians fitted to two feature sets.

    ``tr((Σa Σb)^½)`` is the sum of square roots of the eigenvalues of ``Σa^½ Σb Σa^½`` (symmetric
    positive semi-definite), which avoids the complex square roots of a general ``sqrtm``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(cov_a)
    root_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    middle = np.linalg.eigvalsh(root_a @ cov_b @ root_a)
    trace_root = np.sqrt(np.clip(middle, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def _kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # +1: the point itself is at distance 0


def knn_precision_recall(real: np.ndarray, fake: np.ndarray, k: int = KNN_K) -> tuple[float, float]:
    """Precision: fakes inside some real's k-NN ball; recall: reals inside some fake's k-NN ball."""
    r = torch.as_tensor(real, dtype=torch.float64)
    f = torch.as_tensor(fake, dtype=torch.float64)
    r_radius, f_radius = _kth_neighbour_radius(r, k), _kth_neighbour_radius(f, k)
    cross = torch.cdist(f, r)  # (fake, real)
    precision = (cross <= r_radius[None, :]).any(dim=1).double().mean().item()
    recall = (cross <= f_radius[:, None]).any(dim=0).double().mean().item()
    return precision, recall


def nearest_distance(x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Euclidean pixel distance from each image to its nearest image in ``reference``."""
    return torch.cdist(x.reshape(len(x), -1).double(), reference.reshape(len(reference), -1).double()).min(1).values


def memorisation_ratio(samples: torch.Tensor, train: torch.Tensor, heldout: torch.Tensor) -> float:
    """Mean nearest-training-image distance of samples over that of held-out images (≈1 is healthy)."""
    return float(nearest_distance(samples, train).mean() / nearest_distance(heldout, train).mean())


def class_mix(probs: np.ndarray, classes: int) -> np.ndarray:
    return np.bincount(probs.argmax(1), minlength=classes) / len(probs)


def bits_per_dim(nll_nats: float, dims: int) -> float:
    """Mean negative log-likelihood per image (nats) → bits per pixel value."""
    return nll_nats / (dims * math.log(2))


@dataclass
class SampleScores:
    fid: float
    precision: float
    recall: float
    memorisation: float
    modes_covered: int | None = None
    class_tv: float | None = None
    confidence: float | None = None


def score_samples(judge: FeatureJudge, data: ImageData, samples: torch.Tensor) -> SampleScores:
    """Every sample-based number for ``samples`` (floats in [0, 1], shaped like the data)."""
    test, train = data.tensor("test"), data.tensor("train")
    real_f, fake_f = judge.features(test), judge.features(samples)
    precision, recall = knn_precision_recall(real_f, fake_f)
    scores = SampleScores(fid=frechet_distance(fake_f, real_f), precision=precision, recall=recall,
                          memorisation=memorisation_ratio(samples, train, test))
    probs = judge.probs(samples)
    if probs is not None:
        k = len(data.classes)
        mix = class_mix(probs, k)
        real_mix = np.bincount(data.labels["test"], minlength=k) / data.count("test")
        scores.modes_covered = int((mix >= 0.25 / k).sum())
        scores.class_tv = float(0.5 * np.abs(mix - real_mix).sum())
        scores.confidence = float(probs.max(1).mean())
    return scores


@dataclass
class Baselines:
    """FID of real training images and of uniform noise against the same held-out images."""

    real_fid: float
    noise_fid: float
    n: int


def baselines(judge: FeatureJudge, data: ImageData, n: int, seed: int = 0) -> Baselines:
    pool = torch.cat([data.tensor("train"), data.tensor("val")])
    gen = torch.Generator().manual_seed(seed)
    real = pool[torch.randperm(len(pool), generator=gen)[:n]]
    noise = torch.rand((n, *data.shape), generator=gen)
    test_f = judge.features(data.tensor("test"))
    return Baselines(real_fid=frechet_distance(judge.features(real), test_f),
                     noise_fid=frechet_distance(judge.features(noise), test_f), n=n)


@dataclass
class ImageReport:
    """One evaluation of a run: what ``genlab image eval`` prints and the benchmark tabulates."""

    family: str
    fid_name: str
    judge_accuracy: float | None
    num_samples: int
    scores: SampleScores
    baselines: Baselines
    samples_per_s: float
    num_classes: int = 0
    bits_per_dim: float | None = None
    bits_per_dim_kind: str | None = None  # "exact", "ELBO bound", "IWAE-k estimate"

    def as_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("scores", "baselines")}
        out.update(asdict(self.scores))
        out.update({"real_fid": self.baselines.real_fid, "noise_fid": self.baselines.noise_fid})
        return out

    def lines(self) -> list[str]:
        s, b = self.scores, self.baselines
        judge = f"judge accuracy {self.judge_accuracy:.1%}" if self.judge_accuracy is not None else "PCA features"
        out = [f"{self.fid_name} {s.fid:.3f}  (real-vs-real baseline {b.real_fid:.3f}, uniform noise "
               f"{b.noise_fid:.1f}; {self.num_samples} samples vs held-out, {judge})"]
        if s.modes_covered is not None:
            out.append(f"mode coverage {s.modes_covered}/{self.num_classes} classes  class-mix TV "
                       f"{s.class_tv:.3f}  confidence {s.confidence:.3f}")
        out.append(f"k-NN (k={KNN_K}) precision {s.precision:.3f}  recall {s.recall:.3f}  "
                   f"memorisation ratio {s.memorisation:.3f} (≈1 new images, ≪1 copies of training images)")
        if self.bits_per_dim is not None:
            out.append(f"bits/dim {self.bits_per_dim:.3f} on held-out images ({self.bits_per_dim_kind})")
        out.append(f"sampling {self.samples_per_s:.1f} samples/s")
        return out


def evaluate_model(model, judge: FeatureJudge, data: ImageData, num: int, seed: int = 0) -> ImageReport:
    """Sample ``num`` images (timed), score them, and add bits/dim for likelihood models."""
    start = time.perf_counter()
    samples = model.sample(num, seed=seed)
    elapsed = max(time.perf_counter() - start, 1e-9)
    report = ImageReport(family=model.family, fid_name=judge.fid_name, judge_accuracy=judge.accuracy,
                         num_samples=num, scores=score_samples(judge, data, samples),
                         baselines=baselines(judge, data, num, seed=seed), samples_per_s=num / elapsed,
                         num_classes=len(data.classes))
    if hasattr(model, "test_bits_per_dim"):
        report.bits_per_dim, report.bits_per_dim_kind = model.test_bits_per_dim(data.tensor("test"), data.levels,
                                                                                seed=seed)
    return report
