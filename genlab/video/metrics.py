"""How good generated clips are, each number next to the same number for real clips.

- **per-frame digits FID**: Fréchet distance between the frame judge's features
  (``genlab.video.classifier``) of every frame of the generated clips and of the held-out clips; the
  real baseline is training clips vs the same held-out clips, same count.
- **temporal consistency**: the share of clips whose predicted digit is the same in every frame — a
  clip whose digit morphs into another one fails.
- **motion**: the mean displacement, in pixels per frame, of each frame's centre of mass (intensity
  weighted); a generator that draws still pictures scores 0, one that flickers scores high.
- **mode coverage**: digits that get at least a quarter of their fair share of clips (by majority vote).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from genlab.image.data import ImageData
from genlab.image.metrics import frechet_distance, generated_vs_real_dict
from genlab.video.classifier import FrameJudge


def centres_of_mass(clips: torch.Tensor) -> torch.Tensor:
    """``[N, C, T, H, W]`` → ``[N, T, 2]`` (row, column) of each frame's intensity centre of mass."""
    mass = clips.float().sum(1)  # (N, T, H, W)
    total = mass.sum((2, 3)).clamp_min(1e-6)
    rows = (mass.sum(3) * torch.arange(mass.shape[2])).sum(2) / total
    cols = (mass.sum(2) * torch.arange(mass.shape[3])).sum(2) / total
    return torch.stack([rows, cols], dim=-1)


def motion(clips: torch.Tensor) -> float:
    """Mean centre-of-mass displacement per frame, in pixels."""
    com = centres_of_mass(clips)
    return float((com[:, 1:] - com[:, :-1]).norm(dim=-1).mean())


def consistency(predictions: np.ndarray) -> float:
    """Share of clips whose every frame gets the same predicted class."""
    return float((predictions == predictions[:, :1]).all(1).mean())


@dataclass
class ClipScores:
    fid: float
    consistency: float | None
    motion: float
    modes_covered: int | None


def score_clips(judge: FrameJudge, clips: torch.Tensor, reference: torch.Tensor, classes: int) -> ClipScores:
    scores = ClipScores(fid=frechet_distance(judge.features(clips), judge.features(reference)), consistency=None,
                        motion=motion(clips), modes_covered=None)
    pred = judge.predictions(clips)
    if pred is not None:
        votes = np.array([np.bincount(p, minlength=classes).argmax() for p in pred])
        scores.consistency = consistency(pred)
        scores.modes_covered = int((np.bincount(votes, minlength=classes) / len(votes) >= 0.25 / classes).sum())
    return scores


@dataclass
class VideoReport:
    family: str
    fid_name: str
    judge_accuracy: float | None
    num_samples: int
    num_classes: int
    generated: ClipScores
    real: ClipScores
    samples_per_s: float

    def as_dict(self) -> dict:
        return generated_vs_real_dict(self)

    def lines(self) -> list[str]:
        g, r = self.generated, self.real
        judge = (f"frame judge accuracy {self.judge_accuracy:.1%}" if self.judge_accuracy is not None
                 else "PCA features")
        out = [f"{self.fid_name} {g.fid:.3f}  (real train-vs-held-out baseline {r.fid:.3f}; {self.num_samples} "
               f"clips, every frame; {judge})"]
        if g.consistency is not None:
            out.append(f"temporal consistency {g.consistency:.1%}  (real clips {r.consistency:.1%}): same predicted "
                       f"digit in every frame; digits covered {g.modes_covered}/{self.num_classes}")
        out.append(f"motion {g.motion:.2f} px/frame  (real clips {r.motion:.2f}): centre-of-mass displacement")
        out.append(f"sampling {self.samples_per_s:.1f} clips/s")
        return out


def evaluate_model(model, judge: FrameJudge, data: ImageData, num: int, seed: int = 0) -> VideoReport:
    """Score ``num`` generated clips, and as many real training clips, against the held-out clips."""
    test = data.tensor("test")
    start = time.perf_counter()
    samples = model.sample(num, seed=seed)
    elapsed = max(time.perf_counter() - start, 1e-9)
    pool = torch.cat([data.tensor("train"), data.tensor("val")])
    real = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:num]]
    k = len(data.classes)
    return VideoReport(family=model.family, fid_name=judge.fid_name, judge_accuracy=judge.accuracy,
                       num_samples=num, num_classes=k, generated=score_clips(judge, samples, test, k),
                       real=score_clips(judge, real, test, k), samples_per_s=num / elapsed)
