"""Generative adversarial network (GAN, DCGAN-style): a generator and a discriminator trained against each other.

Lecture order: the *generator* G turns a random vector z into an image (a transposed-convolution
decoder: linear → 4×4 feature map → ×2 upsampling to full size, BatchNorm and ReLU as in DCGAN); the
*discriminator* D reads an image and scores how real it looks (a strided-convolution encoder with
LeakyReLU). Each step:

1. D learns to tell real images (label 1, or 0.9 with one-sided *label smoothing*) from G's (label 0);
2. G learns to make D say "real": the *non-saturating* loss −log D(G(z)) gives G strong gradients
   exactly when D confidently rejects its images (the minimax form log(1 − D(G(z))) would not).

There is no likelihood to watch, so the trainer keeps the checkpoint whose samples score the best
digits FID against the training images. Samples come from an exponential moving average of G's
weights (``genlab.image.ema``), which smooths the step-to-step jitter of adversarial training.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.image.ema import EMA
from genlab.image.nets import ConvDecoder, ConvEncoder
from genlab.image.protocol import sampling_generator


@dataclass
class GANConfig:
    latent: int = 32
    g_width: int = 32
    d_width: int = 32
    label_smoothing: float = 0.1  # one-sided: D's target for real images is 1 − this (0 turns it off)
    spectral_norm: bool = False  # Lipschitz-constrain D's layers (steadier, but slower to learn here)
    ema: float = 0.999
    lr_g: float = 2e-4
    lr: float = 2e-4  # discriminator
    beta1: float = 0.5  # Adam's first-moment decay (DCGAN's choice; 0.9 makes GANs oscillate)
    batch_size: int = 64
    steps: int = 5000
    eval_interval: int = 250
    early_stop: int = 0  # adversarial losses do not converge; keep the best digits-FID checkpoint instead


class GAN(nn.Module):
    family = "gan"
    Config = GANConfig

    def __init__(self, config: GANConfig, shape: tuple[int, int, int], levels: int) -> None:
        super().__init__()
        self.config, self.shape, self.levels = config, tuple(shape), levels
        self.generator = ConvDecoder(config.latent, shape, config.g_width, shape[0], norm="batch", act=nn.ReLU)
        self.discriminator = ConvEncoder(shape, config.d_width, 1, act=functools.partial(nn.LeakyReLU, 0.2),
                                         spectral=config.spectral_norm)
        self.ema = EMA(self.generator, config.ema)

    def generate(self, z: torch.Tensor, net: nn.Module | None = None) -> torch.Tensor:
        """Images in [0, 1] from latent vectors (tanh output mapped from [−1, 1])."""
        return (torch.tanh((net or self.generator)(z)) + 1) / 2

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, 0.999)
        return {"g": torch.optim.Adam(self.generator.parameters(), lr=self.config.lr_g, betas=betas),
                "d": torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr, betas=betas)}

    def _d_input(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] → the discriminator's [−1, 1] input, through DiffAugment when it is on."""
        x = images * 2 - 1
        augment = getattr(self, "d_augment", None)  # set by the trainer for --augment diffaugment
        return augment(x) if augment is not None else x

    def training_step(self, x: torch.Tensor, optimizers: dict) -> dict[str, float]:
        self.train()
        b = len(x)
        z = torch.randn((b, self.config.latent), device=x.device)
        fake = self.generate(z)

        # 1. discriminator: real → 1 (or 1 − smoothing), fake → 0
        real_logits = self.discriminator(self._d_input(x))
        fake_logits = self.discriminator(self._d_input(fake.detach()))
        real_target = torch.full_like(real_logits, 1.0 - self.config.label_smoothing)
        d_loss = (F.binary_cross_entropy_with_logits(real_logits, real_target)
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        optimizers["d"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["d"].step()

        # 2. generator, non-saturating: maximise log D(G(z))
        gen_logits = self.discriminator(self._d_input(fake))
        g_loss = F.binary_cross_entropy_with_logits(gen_logits, torch.ones_like(gen_logits))
        optimizers["g"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["g"].step()
        self.ema.update(self.generator)
        return {"g_loss": g_loss.item(), "d_loss": d_loss.item(),
                "d_real": torch.sigmoid(real_logits).mean().item(), "d_fake": torch.sigmoid(fake_logits).mean().item()}

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        self.eval()
        z = torch.randn((n, self.config.latent), generator=sampling_generator(seed))
        return self.generate(z.to(self.ema.updates.device), self.ema.net).cpu()
