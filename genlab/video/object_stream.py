"""VGAN's foreground stream as an object that moves: what it looks like, and where it is in each frame.

The paper's foreground stream is one 3D transposed-convolution decoder that draws the whole clip from
a coarse grid (``[T/8, H/8, W/8]``). On moving digits and a CPU budget of minutes it never learned to
put a sharp 8×8 digit at a place that changes every frame: every latent gave the same blurred clip
(per-frame FID 58–75 over many probes, see docs/speed.md). This stream splits the two questions:

- **appearance**: the image GAN's decoder draws the object once, ``[C + 1, s, s]`` (foreground
  values and a mask), as it draws a digit;
- **motion**: four numbers from z, a start and a velocity (at most ``max_speed`` pixels a frame on
  each axis), give a straight path that reflects off the frame's edges; each frame's position is
  rounded to whole pixels (straight-through: the rounding passes the gradient on unchanged), so the
  object is copied, not blurred, and the motion is learned from the discriminators' gradients;
- **dynamics** (optional): a 3D transposed-convolution stream adds a change per frame to the object's
  foreground and mask — the paper's spatio-temporal decoder, in the object's own window;
- **background** (optional): the paper's static 2D stream behind everything; without it the
  background is black, as in moving digits.

The object is placed with ``grid_sample`` at its frame's position; its mask is zero outside the
window, so the clip is ``mask ⊙ foreground + (1 − mask) ⊙ background`` exactly as in VGAN.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genlab.image.nets import ConvDecoder


def transposed_stack(dims: int, channels: int, out: int) -> nn.Sequential:
    """BatchNorm, ReLU and three ×2 transposed convolutions (kernel 4), 2D or 3D: ``channels`` → ``out``."""
    conv, norm = (nn.ConvTranspose3d, nn.BatchNorm3d) if dims == 3 else (nn.ConvTranspose2d, nn.BatchNorm2d)
    return nn.Sequential(
        norm(channels), nn.ReLU(),
        conv(channels, channels // 2, 4, 2, 1), norm(channels // 2), nn.ReLU(),
        conv(channels // 2, channels // 4, 4, 2, 1), norm(channels // 4), nn.ReLU(),
        conv(channels // 4, out, 4, 2, 1))


def bounce(u: torch.Tensor, room: torch.Tensor) -> torch.Tensor:
    """Positions on a straight line folded back into ``[0, room]`` (a reflection at each edge)."""
    folded = torch.remainder(u, 2 * room.clamp_min(1))
    return torch.where(room > 0, room - (folded - room).abs(), torch.zeros_like(u))


class ObjectGenerator(nn.Module):
    """z ``[B, latent]`` → (clip ``[B, C, T, H, W]`` in (−1, 1), mask ``[B, 1, T, H, W]`` in [0, 1))."""

    def __init__(self, latent: int, width: int, shape: tuple[int, int, int, int], size: int, max_speed: float,
                 dynamics: bool, background: bool) -> None:
        super().__init__()
        c, t, h, w = shape
        self.channels, self.frames, self.height, self.width, self.size = c, t, h, w, size
        self.max_speed = max_speed
        self.register_buffer("room", torch.tensor([h - size, w - size], dtype=torch.float32), persistent=False)
        self.appearance = ConvDecoder(latent, (c, size, size), 2 * width, c + 1, norm="batch", act=nn.ReLU)
        self.motion = nn.Linear(latent, 4)  # start (row, column) and velocity (row, column)
        self.ch = 4 * width
        self.dynamics_dense = self.dynamics = None
        if dynamics:
            self.dynamics_base = (t // 8, size // 8, size // 8)
            self.dynamics_dense = nn.Linear(latent, self.ch * t // 8 * (size // 8) ** 2)
            self.dynamics = transposed_stack(3, self.ch, c + 1)
            nn.init.zeros_(self.dynamics[-1].weight)  # starts as the still object; changes only if it helps
            nn.init.zeros_(self.dynamics[-1].bias)
        self.bg_dense = self.background = None
        if background:
            self.bg_dense = nn.Linear(latent, self.ch * (h // 8) * (w // 8))
            self.background = transposed_stack(2, self.ch, c)

    def objects(self, z: torch.Tensor) -> torch.Tensor:
        """The still object of each latent on a black ground, ``[B, C, s, s]`` in (−1, 1): what the object
        discriminator's extra steps judge (the same picture a glimpse of a clip shows without dynamics)."""
        logits = self.appearance(z)
        mask = torch.sigmoid(logits[:, self.channels:])
        return mask * torch.tanh(logits[:, :self.channels]) - (1 - mask)

    def path(self, z: torch.Tensor) -> torch.Tensor:
        """Top-left corner of the object in each frame, ``[B, T, 2]`` (row, column), whole pixels."""
        m = self.motion(z)
        start = torch.sigmoid(m[:, :2]) * self.room
        velocity = torch.tanh(m[:, 2:]) * self.max_speed
        steps = torch.arange(self.frames, dtype=z.dtype, device=z.device)[None, :, None]
        u = bounce(start[:, None, :] + velocity[:, None, :] * steps, self.room)
        return u + (u.round() - u).detach()  # straight-through rounding

    def _place(self, window: torch.Tensor, corners: torch.Tensor) -> torch.Tensor:
        """Windows ``[N, K, s, s]`` copied onto ``[N, K, H, W]`` canvases with their top-left at ``corners[N, 2]``."""
        scale = 2 / max(self.size - 1, 1)
        rows = torch.arange(self.height, dtype=window.dtype, device=window.device)
        cols = torch.arange(self.width, dtype=window.dtype, device=window.device)
        gy = (rows[None, :] - corners[:, :1]) * scale - 1  # (N, H): the window row each canvas row reads
        gx = (cols[None, :] - corners[:, 1:]) * scale - 1  # (N, W)
        n = len(window)
        grid = torch.stack([gx[:, None, :].expand(n, self.height, self.width),
                            gy[:, :, None].expand(n, self.height, self.width)], dim=-1)
        return F.grid_sample(window, grid, mode="bilinear", padding_mode="zeros", align_corners=True)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, c, s = len(z), self.frames, self.channels, self.size
        logits = self.appearance(z)[:, :, None].expand(b, c + 1, t, s, s)  # (B, C + 1, T, s, s)
        if self.dynamics is not None:
            logits = logits + self.dynamics(self.dynamics_dense(z).view(b, self.ch, *self.dynamics_base))
        window = torch.cat([torch.tanh(logits[:, :c]), torch.sigmoid(logits[:, c:])], dim=1)
        window = window.transpose(1, 2).reshape(b * t, c + 1, s, s)
        placed = self._place(window, self.path(z).reshape(b * t, 2))  # (B·T, C + 1, H, W)
        placed = placed.view(b, t, c + 1, self.height, self.width).transpose(1, 2)  # (B, C + 1, T, H, W)
        f, mask = placed[:, :c], placed[:, c:]
        if self.background is None:
            return mask * f - (1 - mask), mask
        bg = torch.tanh(self.background(self.bg_dense(z).view(b, self.ch, self.height // 8, self.width // 8)))
        return mask * f + (1 - mask) * bg[:, :, None], mask
