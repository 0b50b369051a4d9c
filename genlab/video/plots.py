"""Pictures of video runs: an animated GIF of a grid of clips, a frame strip PNG, and the loss curves."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from genlab.checkpoint import write_bytes
from genlab.image.plots import read_metrics, save_loss_curves, save_rows, tile

FRAME_MS = 100  # 10 frames per second


def gif_bytes(clips: torch.Tensor, scale: int = 3, nrow: int | None = None) -> bytes:
    """Clips ``[N, C, T, H, W]`` in [0, 1] → an animated GIF whose every frame is a grid of all clips at time t."""
    from PIL import Image

    clips = clips.detach().float().cpu().clamp(0, 1)
    frames = []
    for t in range(clips.shape[2]):
        canvas = tile(clips[:, :, t], nrow)  # (rows, cols, C)
        pixels = np.round(canvas * 255).astype(np.uint8)
        mode = "L" if pixels.shape[2] == 1 else "RGB"
        image = Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode)
        frames.append(image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST))
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=FRAME_MS, loop=0)
    return buf.getvalue()


def save_gif(clips: torch.Tensor, path: str | Path, scale: int = 3) -> None:
    write_bytes(path, gif_bytes(clips, scale))


def save_strip(clips: torch.Tensor, path: str | Path, title: str | None = None) -> None:
    """One row per clip, its frames left to right (at most 8 clips)."""
    rows = [(f"#{i + 1}", clips[i].transpose(0, 1)) for i in range(min(8, len(clips)))]  # (T, C, H, W) each
    save_rows(rows, path, title)


def training_pictures(run: str | Path, seed: int = 0) -> list[Path]:
    from genlab.image.run import load_run
    from genlab.video.run import VIDEO

    run = Path(run)
    model, _, _ = load_run(run, "best", kind=VIDEO)
    clips = model.sample(16, seed=seed)
    save_gif(clips, run / "samples.gif")
    save_strip(clips, run / "samples.png", f"{model.family}: samples, frames left to right (seed {seed})")
    written = [run / "samples.gif", run / "samples.png"]
    metrics = read_metrics(run / "metrics.jsonl")
    if metrics:
        save_loss_curves(metrics, run / "loss.png", model.family)
        written.append(run / "loss.png")
    return written
