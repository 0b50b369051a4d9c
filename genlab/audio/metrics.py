"""How good generated sound is, each number next to the same number for real held-out clips.

- **inception score** ``exp(E_x KL(p(y|x) ‖ p(y)))`` with the judge's word probabilities
  (``genlab.audio.classifier``): high when each clip is confidently one word *and* all words occur;
  its ceiling is the number of words (20 for spoken digits). Real held-out clips give the score a
  perfect generator would get from this judge.
- **Fréchet distance** between Gaussians fitted to the judge's features of generated and held-out
  clips; the real baseline is training clips vs the same held-out clips, same count.
- **word mix**: how many words get at least a quarter of their fair share (mode coverage).
- **loudness**: RMS level in dBFS and the share of near-silent clips, against the real ones: a
  generator that learned only silence or only noise shows here at once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from genlab.audio.classifier import AudioJudge
from genlab.audio.data import AudioData
from genlab.image.metrics import frechet_distance, generated_vs_real_dict

SILENT_DBFS = -40.0


def inception_score(probs: np.ndarray) -> float:
    """``exp(mean_x KL(p(y|x) ‖ p(y)))`` over one set of class probabilities ``[N, K]``."""
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)
    marginal = p.mean(0, keepdims=True)
    return float(math.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))


def rms_dbfs(clips: torch.Tensor) -> np.ndarray:
    rms = clips.reshape(len(clips), -1).double().pow(2).mean(1).sqrt().numpy()
    return 20 * np.log10(np.maximum(rms, 1e-9))


@dataclass
class ClipScores:
    inception_score: float | None
    frechet: float
    words_covered: int | None
    confidence: float | None
    rms_dbfs: float
    silent_share: float


def score_clips(judge: AudioJudge, clips: torch.Tensor, reference: torch.Tensor, classes: int) -> ClipScores:
    probs = judge.probs(clips)
    level = rms_dbfs(clips)
    distance = frechet_distance(judge.features(clips), judge.features(reference))
    scores = ClipScores(inception_score=None, frechet=distance,
                        words_covered=None, confidence=None, rms_dbfs=float(level.mean()),
                        silent_share=float((level < SILENT_DBFS).mean()))
    if probs is not None:
        mix = np.bincount(probs.argmax(1), minlength=classes) / len(probs)
        scores.inception_score = inception_score(probs)
        scores.words_covered = int((mix >= 0.25 / classes).sum())
        scores.confidence = float(probs.max(1).mean())
    return scores


@dataclass
class AudioReport:
    family: str
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
        judge = f"judge accuracy {self.judge_accuracy:.1%}" if self.judge_accuracy is not None else "PCA features"
        out = []
        if g.inception_score is not None:
            out.append(f"inception score {g.inception_score:.3f}  (generated, {self.num_samples} clips; "
                       f"max {self.num_classes}; {judge})")
            out.append(f"inception score {r.inception_score:.3f}  (real held-out clips, {self.num_samples})")
        out.append(f"Fréchet distance {g.frechet:.3f}  (real train-vs-held-out baseline {r.frechet:.3f})")
        if g.words_covered is not None:
            out.append(f"words covered {g.words_covered}/{self.num_classes} (real {r.words_covered})  "
                       f"confidence {g.confidence:.3f} (real {r.confidence:.3f})")
        out.append(f"level {g.rms_dbfs:.1f} dBFS RMS, {g.silent_share:.0%} near-silent "
                   f"(real {r.rms_dbfs:.1f} dBFS, {r.silent_share:.0%})")
        out.append(f"sampling {self.samples_per_s:.1f} clips/s")
        return out


def evaluate_model(model, judge: AudioJudge, data: AudioData, num: int, seed: int = 0) -> AudioReport:
    """Score ``num`` generated clips, and the same number of real ones, against the held-out clips."""
    test = data.tensor("test")
    num = min(num, len(test))
    start = time.perf_counter()
    samples = model.sample(num, seed=seed)
    elapsed = max(time.perf_counter() - start, 1e-9)
    pool = torch.cat([data.tensor("train"), data.tensor("val")])
    real = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:num]]
    k = len(data.classes)
    generated = score_clips(judge, samples, test, k)
    baseline = score_clips(judge, real, test, k)
    if baseline.inception_score is not None:  # the real score is the held-out clips' own
        held = score_clips(judge, test[:num], test, k)
        baseline.inception_score, baseline.words_covered, baseline.confidence = (
            held.inception_score, held.words_covered, held.confidence)
    return AudioReport(family=model.family, judge_accuracy=judge.accuracy, num_samples=num, num_classes=k,
                       generated=generated, real=baseline, samples_per_s=num / elapsed)
