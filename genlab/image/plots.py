"""Pictures of image runs (PNG via matplotlib): sample grids, reconstructions, VAE latent interpolations,
the diffusion denoising strip, loss curves, and the benchmark's families side by side.

Every file is written atomically (temporary file, then rename), like every other file of a run.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from genlab.checkpoint import write_bytes  # noqa: E402


def tile(images: torch.Tensor, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """[N, C, H, W] in [0, 1] → one [rows·(H+pad), cols·(W+pad), C] array with a grey gutter."""
    images = images.detach().float().cpu().clamp(0, 1)
    n, c, h, w = images.shape
    cols = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / cols))
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 0.5, dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        canvas[y:y + h, x:x + w] = images[i].permute(1, 2, 0).numpy()
    return canvas


def _show(ax, canvas: np.ndarray, title: str | None = None, ink: bool = False) -> None:
    if canvas.shape[2] == 1:
        ax.imshow(canvas[:, :, 0], cmap="gray_r" if ink else "gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def ink_convention(source: str) -> bool:
    """Digits count pen strokes (0 = blank paper): draw them dark on light. Photos keep 1 = white."""
    return source == "builtin:digits"


def _save(fig, path: str | Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    write_bytes(path, buf.getvalue())


def save_grid(images: torch.Tensor, path: str | Path, title: str | None = None, nrow: int | None = None,
              ink: bool = False) -> None:
    canvas = tile(images, nrow)
    scale = max(3.0, min(10.0, canvas.shape[1] / 20))
    fig, ax = plt.subplots(figsize=(scale, scale * canvas.shape[0] / canvas.shape[1] + (0.3 if title else 0)))
    _show(ax, canvas, title, ink)
    _save(fig, path)


def save_rows(rows: list[tuple[str, torch.Tensor]], path: str | Path, title: str | None = None,
              ink: bool = False) -> None:
    """Labelled rows of images (reconstructions: originals over outputs; strips; interpolations)."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.1 * len(rows) + (0.4 if title else 0)), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows):
        _show(ax, tile(images, nrow=len(images)), ink=ink)
        ax.text(-0.01, 0.5, label, transform=ax.transAxes, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)


def save_panels(panels: list[tuple[str, torch.Tensor]], path: str | Path, title: str | None = None,
                ink: bool = False) -> None:
    """One sample grid per family, side by side (the benchmark's picture)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3.4), squeeze=False)
    for ax, (label, images) in zip(axes[0], panels):
        _show(ax, tile(images), label, ink)
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)


def read_metrics(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a crash: skip it, keep the rest
    return records


def save_loss_curves(metrics: list[dict], path: str | Path, family: str) -> None:
    """Training losses (one panel per logged quantity) and the validation curve."""
    train = [m for m in metrics if "val" not in m]
    val = [m for m in metrics if "val" in m]
    keys = [k for k in (train[0] if train else {}) if k not in ("step", "time") and not k.endswith("_per_s")]
    panels = len(keys) + (1 if val else 0)
    if panels == 0:
        return
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3), squeeze=False)
    for ax, key in zip(axes[0], keys):
        ax.plot([m["step"] for m in train], [m[key] for m in train], lw=1)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("step")
    if val:
        ax = axes[0][-1]
        ax.plot([m["step"] for m in val], [m["val"] for m in val], marker=".", lw=1)
        ax.set_title("validation (lower is better)", fontsize=9)
        ax.set_xlabel("step")
    fig.suptitle(f"{family}: training curves", fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def training_pictures(run: str | Path, seed: int = 0) -> list[Path]:
    """Everything a finished run can show: samples, losses, and what the family adds."""
    from genlab.image.run import load_run

    run = Path(run)
    model, data, _ = load_run(run, "best")
    written = []
    ink = ink_convention(data.source)
    save_grid(model.sample(64, seed=seed), run / "samples.png", f"{model.family}: samples (seed {seed})", ink=ink)
    written.append(run / "samples.png")
    metrics = read_metrics(run / "metrics.jsonl")
    if metrics:
        save_loss_curves(metrics, run / "loss.png", model.family)
        written.append(run / "loss.png")
    test = data.tensor("test")[:16]
    if hasattr(model, "reconstruct"):
        save_rows([("held-out", test), ("reconstructed", model.reconstruct(test))], run / "reconstructions.png",
                  f"{model.family}: reconstructions of held-out images", ink)
        written.append(run / "reconstructions.png")
    if hasattr(model, "interpolate"):
        a, b = data.tensor("test")[:6], data.tensor("test")[6:12]
        lines = model.interpolate(a, b, steps=10)
        save_rows([(f"{i + 1}", row) for i, row in enumerate(lines)], run / "interpolations.png",
                  f"{model.family}: straight lines in latent space between held-out images", ink)
        written.append(run / "interpolations.png")
    if hasattr(model, "denoising_strip"):
        frames, times = model.denoising_strip(6, seed=seed, frames=10)
        save_rows([(f"#{i + 1}", frames[i]) for i in range(len(frames))], run / "denoising.png",
                  f"diffusion: from noise (left, t={times[0]}) to image (right, t=0)", ink)
        written.append(run / "denoising.png")
    return written
