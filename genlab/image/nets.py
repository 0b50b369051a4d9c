"""Convolutional backbones shared by several families: an image → vector encoder and a vector → image decoder.

The autoencoder and VAE use both (encoder → latent → decoder); the GAN's generator is a decoder and its
discriminator an encoder. Images are ``size`` × ``size`` with ``size`` = 4·2^m (8 for the digits, 16, 32,
64): the encoder halves the resolution m times down to 4×4 with stride-2 convolutions, doubling the
channels each time; the decoder mirrors it with transposed convolutions and adds a residual 3×3 block at
each new resolution.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SIZES = (8, 16, 32, 64)


def stages(size: int) -> int:
    """How many ×2 resolution changes separate ``size`` from 4×4."""
    m = int(round(math.log2(size / 4)))
    if size not in SIZES:
        raise ValueError(f"image size {size} is not one of {SIZES}")
    return m


def _norm(channels: int, kind: str) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.Identity()


class ResBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x)))))): keeps resolution and channels."""

    def __init__(self, channels: int, norm: str = "none", act: type[nn.Module] = nn.SiLU) -> None:
        super().__init__()
        self.body = nn.Sequential(_norm(channels, norm), act(), nn.Conv2d(channels, channels, 3, padding=1),
                                  _norm(channels, norm), act(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConvEncoder(nn.Module):
    """``[B, C, S, S]`` → ``[B, out_dim]``: a 3×3 stem, a stride-2 conv per stage, then a linear head."""

    def __init__(self, shape: tuple[int, int, int], width: int, out_dim: int, norm: str = "none",
                 act: type[nn.Module] = nn.SiLU, spectral: bool = False) -> None:
        super().__init__()
        c, size, _ = shape
        wrap = nn.utils.parametrizations.spectral_norm if spectral else (lambda m: m)
        layers: list[nn.Module] = [wrap(nn.Conv2d(c, width, 3, padding=1))]
        ch = width
        for _ in range(stages(size)):
            layers += [act(), wrap(nn.Conv2d(ch, ch * 2, 4, stride=2, padding=1)), _norm(ch * 2, norm)]
            ch *= 2
        layers += [act()]
        self.features = nn.Sequential(*layers)
        self.head = wrap(nn.Linear(ch * 16, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))  # (B, out_dim)


class ConvDecoder(nn.Module):
    """``[B, in_dim]`` → ``[B, out_channels, S, S]``: linear to 4×4, then (transposed conv ×2, res block) per stage."""

    def __init__(self, in_dim: int, shape: tuple[int, int, int], width: int, out_channels: int,
                 norm: str = "none", act: type[nn.Module] = nn.SiLU) -> None:
        super().__init__()
        _, size, _ = shape
        m = stages(size)
        ch = width * 2 ** m
        self.ch = ch
        self.stem = nn.Linear(in_dim, ch * 16)
        layers: list[nn.Module] = [_norm(ch, norm), act()]
        for _ in range(m):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, stride=2, padding=1), _norm(ch // 2, norm), act()]
            ch //= 2
            layers += [ResBlock(ch, norm, act)]
        layers += [nn.Conv2d(ch, out_channels, 3, padding=1)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(z).view(len(z), self.ch, 4, 4))  # (B, out_channels, S, S)
