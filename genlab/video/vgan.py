"""VGAN (Vondrick, Pirsiavash & Torralba 2016, "Generating Videos with Scene Dynamics"), scaled down.

The course's video generator is "3D CNN, GAN": convolutions that slide over time as well as space.

- The *generator* has two streams from one latent vector z. The **foreground** stream is a 3D
  transposed-convolution decoder: dense → ``[4w, T/8, H/8, W/8]`` → three ×2 upsamplings in time,
  height and width (BatchNorm, ReLU) → two channels: the moving foreground ``f`` (tanh) and a mask
  ``m`` (sigmoid) saying where the foreground is. The **background** stream is a 2D decoder drawing
  one still image ``b``. The clip is ``m ⊙ f + (1 − m) ⊙ b``, the background repeated over time: what
  moves and what stays are learned separately, and an L1 penalty on the mask keeps the foreground
  small (the paper's λ = 0.1).
- The *discriminator* is a 3D-convolution encoder (stride 2 in time and space, LeakyReLU 0.2) with a
  linear score, so it judges motion as well as appearance.
- The loss is the image GAN's (``genlab.image.gan``): non-saturating, one-sided label smoothing, and
  samples from an exponential moving average of the generator.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.errors import GenlabError
from genlab.image.ema import EMA
from genlab.image.protocol import sampling_generator

UPSAMPLINGS = 3


@dataclass
class VGANConfig:
    latent: int = 64
    g_width: int = 16  # the foreground stream's last hidden layer; its first has 4·g_width channels
    d_width: int = 16
    mask_l1: float = 0.1  # λ of the mask sparsity penalty
    label_smoothing: float = 0.1
    ema: float = 0.999
    lr_g: float = 2e-4
    lr: float = 2e-4  # discriminator
    beta1: float = 0.5
    batch_size: int = 32
    steps: int = 3000
    eval_interval: int = 250
    early_stop: int = 0  # the trainer keeps the best per-frame FID checkpoint instead


class Generator(nn.Module):
    """z ``[B, latent]`` → (clip ``[B, C, T, H, W]`` in (−1, 1), mask ``[B, 1, T, H, W]`` in (0, 1))."""

    def __init__(self, latent: int, width: int, shape: tuple[int, int, int, int]) -> None:
        super().__init__()
        c, t, h, w = shape
        self.base = (t // 8, h // 8, w // 8)
        self.ch = 4 * width
        self.channels = c
        self.fg_dense = nn.Linear(latent, self.ch * self.base[0] * self.base[1] * self.base[2])
        self.foreground = nn.Sequential(
            nn.BatchNorm3d(self.ch), nn.ReLU(),
            nn.ConvTranspose3d(self.ch, self.ch // 2, 4, 2, 1), nn.BatchNorm3d(self.ch // 2), nn.ReLU(),
            nn.ConvTranspose3d(self.ch // 2, self.ch // 4, 4, 2, 1), nn.BatchNorm3d(self.ch // 4), nn.ReLU(),
            nn.ConvTranspose3d(self.ch // 4, c + 1, 4, 2, 1))  # (B, C + 1, T, H, W): foreground and mask
        self.bg_dense = nn.Linear(latent, self.ch * self.base[1] * self.base[2])
        self.background = nn.Sequential(
            nn.BatchNorm2d(self.ch), nn.ReLU(),
            nn.ConvTranspose2d(self.ch, self.ch // 2, 4, 2, 1), nn.BatchNorm2d(self.ch // 2), nn.ReLU(),
            nn.ConvTranspose2d(self.ch // 2, self.ch // 4, 4, 2, 1), nn.BatchNorm2d(self.ch // 4), nn.ReLU(),
            nn.ConvTranspose2d(self.ch // 4, c, 4, 2, 1))  # (B, C, H, W)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b = len(z)
        fg = self.foreground(self.fg_dense(z).view(b, self.ch, *self.base))  # (B, C + 1, T, H, W)
        f, mask = torch.tanh(fg[:, :self.channels]), torch.sigmoid(fg[:, self.channels:])
        bg = torch.tanh(self.background(self.bg_dense(z).view(b, self.ch, *self.base[1:])))  # (B, C, H, W)
        return mask * f + (1 - mask) * bg[:, :, None], mask


class Discriminator(nn.Module):
    """clip ``[B, C, T, H, W]`` in [−1, 1] → realness logit ``[B, 1]``."""

    def __init__(self, width: int, shape: tuple[int, int, int, int]) -> None:
        super().__init__()
        c, t, h, w = shape
        act = functools.partial(nn.LeakyReLU, 0.2)
        self.body = nn.Sequential(
            nn.Conv3d(c, width, 4, 2, 1), act(),
            nn.Conv3d(width, 2 * width, 4, 2, 1), act(),
            nn.Conv3d(2 * width, 4 * width, 4, 2, 1), act(), nn.Flatten())
        self.head = nn.Linear(4 * width * (t // 8) * (h // 8) * (w // 8), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class VGAN(nn.Module):
    family = "vgan"
    Config = VGANConfig

    def __init__(self, config: VGANConfig, shape: tuple[int, int, int, int], levels: int) -> None:
        super().__init__()
        if len(shape) != 4 or any(s % 8 or s < 8 for s in shape[1:]):
            raise GenlabError(f"VGAN takes clips [C, T, H, W] with T, H and W multiples of 8 (≥ 8); "
                              f"the data has shape {list(shape)}")
        if config.g_width < 4 or config.d_width < 1 or config.latent < 1:
            raise GenlabError("VGAN needs g_width ≥ 4, d_width ≥ 1 and latent ≥ 1")
        self.config, self.shape, self.levels = config, tuple(shape), levels
        self.generator = Generator(config.latent, config.g_width, self.shape)
        self.discriminator = Discriminator(config.d_width, self.shape)
        self.ema = EMA(self.generator, config.ema)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, 0.999)
        return {"g": torch.optim.Adam(self.generator.parameters(), lr=self.config.lr_g, betas=betas),
                "d": torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr, betas=betas)}

    def training_step(self, x: torch.Tensor, optimizers: dict) -> dict[str, float]:
        """One discriminator and one generator update on clips ``x`` in [0, 1]."""
        self.train()
        z = torch.randn((len(x), self.config.latent), device=x.device)
        fake, mask = self.generator(z)

        real_logits = self.discriminator(x * 2 - 1)
        fake_logits = self.discriminator(fake.detach())
        real_target = torch.full_like(real_logits, 1.0 - self.config.label_smoothing)
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, real_target)
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        optimizers["d"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["d"].step()

        gen_logits = self.discriminator(fake)
        adversarial = F.binary_cross_entropy_with_logits(gen_logits, torch.ones_like(gen_logits))
        mask_mean = mask.mean()
        g_loss = adversarial + self.config.mask_l1 * mask_mean
        optimizers["g"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["g"].step()
        self.ema.update(self.generator)
        return {"g_loss": adversarial.item(), "d_loss": d_loss.item(), "mask": mask_mean.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item()}

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` clips ``[n, C, T, H, W]`` in [0, 1]; the same clips for the same seed and weights."""
        self.eval()
        z = torch.randn((n, self.config.latent), generator=sampling_generator(seed))
        device = self.ema.updates.device
        return torch.cat([(self.ema.net(z[i:i + 128].to(device))[0].cpu() + 1) / 2 for i in range(0, n, 128)])
