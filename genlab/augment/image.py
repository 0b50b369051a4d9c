"""Image augmentation: small shifts, rotations and elastic distortion of the training images, and
DiffAugment for a GAN's discriminator.

*Geometric* augmentation (for handwritten digits: a digit moved by a pixel, turned by a few degrees or
slightly bent is still the same digit) resamples each training batch through one random warp per
image — an affine map (rotation up to ±10° × strength, shift up to ±1 pixel × strength) plus a
smooth random displacement field (elastic distortion, Simard et al. 2003) — and rounds back to the
data's intensity levels, so likelihood models still see valid pixels. The warps come from the batch
generator, so a seed gives the same augmented batches (and resume continues them).

*DiffAugment* (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training") instead
augments what the discriminator sees — real *and* generated images, in both players' steps — with
differentiable transforms (brightness, contrast, translation by up to 1/8 of the side, cutout of a
square half the side), so the generator's gradient passes through and the discriminator cannot
simply memorise a small training set.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

IMAGE_AUGMENTS = ("none", "geometric", "diffaugment", "all")


def geometric(x: torch.Tensor, gen: torch.Generator, strength: float = 1.0, levels: int | None = None) -> torch.Tensor:
    """``x[B, C, H, W]`` in [0, 1] → each image shifted, rotated and elastically distorted (``gen`` draws)."""
    B, _, H, W = x.shape
    angle = (torch.rand(B, generator=gen) * 2 - 1) * math.radians(10 * strength)
    shift = (torch.rand(B, 2, generator=gen) * 2 - 1) * strength * torch.tensor([2 / W, 2 / H])  # ±1 px
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)  # (B, H, W, 2)
    coarse = (torch.rand(B, 2, 3, 3, generator=gen) * 2 - 1) * 0.6 * strength * (2 / W)  # ±0.6 px at 3×3 knots
    field = F.interpolate(coarse, size=(H, W), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
    out = F.grid_sample(x, grid + field.to(x), mode="bilinear", padding_mode="border", align_corners=False)
    out = out.clamp(0, 1)
    if levels:
        out = torch.round(out * (levels - 1)) / (levels - 1)
    return out


def diff_augment(x: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """DiffAugment's color + translation + cutout of a discriminator input ``x[B, C, H, W]`` (any range).

    Differentiable in ``x``; random draws come from torch's global generator (seeded by the trainer).
    """
    B, _, H, W = x.shape
    x = x + (torch.rand(B, 1, 1, 1, device=x.device) - 0.5) * strength  # brightness
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + (torch.rand(B, 1, 1, 1, device=x.device) - 0.5) * strength) + mean  # contrast
    # translation by whole pixels, up to 1/8 of the side, zero padding
    sh, sw = max(1, round(H / 8 * strength)), max(1, round(W / 8 * strength))
    dy = torch.randint(-sh, sh + 1, (B, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (B, 1, 1), device=x.device)
    rows = torch.arange(H, device=x.device)[None, :, None] - dy  # (B, H, 1)
    cols = torch.arange(W, device=x.device)[None, None, :] - dx  # (B, 1, W)
    inside = ((rows >= 0) & (rows < H) & (cols >= 0) & (cols < W)).unsqueeze(1)  # (B, 1, H, W)
    index = (rows.clamp(0, H - 1) * W + cols.clamp(0, W - 1)).reshape(B, 1, H * W).expand(-1, x.shape[1], -1)
    x = torch.gather(x.reshape(B, x.shape[1], H * W), 2, index).reshape(x.shape) * inside
    # cutout: a square of half the side set to zero
    ch, cw = max(1, round(H / 2 * min(strength, 1.0))), max(1, round(W / 2 * min(strength, 1.0)))
    cy = torch.randint(0, H - ch + 1, (B, 1, 1), device=x.device)
    cx = torch.randint(0, W - cw + 1, (B, 1, 1), device=x.device)
    r, c = torch.arange(H, device=x.device)[None, :, None], torch.arange(W, device=x.device)[None, None, :]
    hole = ((r >= cy) & (r < cy + ch) & (c >= cx) & (c < cx + cw)).unsqueeze(1)
    return x * ~hole
