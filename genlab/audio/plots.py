"""Pictures of audio runs: a grid of log-mel spectrograms (time → right, pitch ↑) and the loss curves."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from genlab.audio.spectrogram import HOP, log_mel
from genlab.image.plots import _save, plt, read_metrics, save_loss_curves


def save_spectrograms(clips: torch.Tensor, path: str | Path, sample_rate: int, title: str | None = None,
                      labels: list[str] | None = None) -> None:
    """One small spectrogram per clip, in a grid, all on the same colour scale."""
    spec = log_mel(clips, sample_rate)[:, 0].numpy()  # (N, mels, frames)
    n = len(spec)
    cols = min(8, max(1, int(math.ceil(math.sqrt(n)))))
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.3 * rows + (0.4 if title else 0)), squeeze=False)
    lo, hi = float(spec.min()), float(spec.max())
    seconds = spec.shape[2] * HOP / sample_rate
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(spec[i], origin="lower", aspect="auto", cmap="magma", vmin=max(lo, hi - 12), vmax=hi,
                      extent=(0, seconds, 0, spec.shape[1]))
            if labels:
                ax.set_title(labels[i], fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    _save(fig, path)


def training_pictures(run: str | Path, seed: int = 0) -> list[Path]:
    from genlab.audio.run import AUDIO
    from genlab.image.run import load_run

    run = Path(run)
    model, data, _ = load_run(run, "best", kind=AUDIO)
    save_spectrograms(model.sample(32, seed=seed), run / "samples.png", data.sample_rate,
                      f"{model.family}: log-mel spectrograms of 32 samples (seed {seed})")
    written = [run / "samples.png"]
    metrics = read_metrics(run / "metrics.jsonl")
    if metrics:
        save_loss_curves(metrics, run / "loss.png", model.family)
        written.append(run / "loss.png")
    return written
