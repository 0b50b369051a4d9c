"""Autoencoder: squeeze an image into a few numbers and rebuild it — the contrast that explains the VAE.

Lecture order: an encoder maps an image to one latent point z (a vector of ``latent`` numbers), a
decoder maps z back to an image, and training minimises the reconstruction error (binary cross-entropy
of pixel intensities). Nothing asks the codes to fill any particular region of latent space, so an
autoencoder has no way to *generate*: there is no distribution to draw z from.

To show that contrast with numbers rather than words, ``sample`` does what one would naively try: it
draws z from a Gaussian fitted to the codes of training images (running mean and covariance, kept
like BatchNorm's statistics) and decodes it. Reconstructions are sharp; samples from the gaps between
codes often are not digits at all, which the VAE's KL term is there to fix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.image.nets import ConvDecoder, ConvEncoder
from genlab.image.protocol import sampling_generator


@dataclass
class AutoencoderConfig:
    latent: int = 16
    width: int = 32
    code_momentum: float = 0.02  # update rate of the running code mean/covariance used by sample()
    lr: float = 2e-3
    batch_size: int = 64
    steps: int = 3000
    eval_interval: int = 100
    early_stop: int = 8


class Autoencoder(nn.Module):
    family = "autoencoder"
    Config = AutoencoderConfig

    def __init__(self, config: AutoencoderConfig, shape: tuple[int, int, int], levels: int) -> None:
        super().__init__()
        self.config, self.shape, self.levels = config, tuple(shape), levels
        self.dims = math.prod(shape)
        self.encoder = ConvEncoder(shape, config.width, config.latent)
        self.decoder = ConvDecoder(config.latent, shape, config.width, shape[0])
        self.register_buffer("code_mean", torch.zeros(config.latent))
        self.register_buffer("code_cov", torch.eye(config.latent))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x * 2 - 1)  # (B, latent)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))  # (B, C, H, W) in [0, 1]

    def reconstruction_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(binary cross-entropy per pixel value, the codes)."""
        z = self.encode(x)
        return F.binary_cross_entropy_with_logits(self.decoder(z), x), z

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"ae": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def training_step(self, x: torch.Tensor, optimizers: dict) -> dict[str, float]:
        self.train()
        loss, z = self.reconstruction_loss(x)
        optimizers["ae"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["ae"].step()
        self._track_codes(z.detach())
        return {"bce": loss.item()}

    @torch.no_grad()
    def _track_codes(self, z: torch.Tensor) -> None:
        m = self.config.code_momentum
        centred = z - z.mean(0)
        self.code_mean.lerp_(z.mean(0), m)
        self.code_cov.lerp_(centred.T @ centred / max(1, len(z) - 1), m)

    @torch.no_grad()
    def validation_loss(self, x: torch.Tensor) -> float:
        self.eval()
        return self.reconstruction_loss(x)[0].item()

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """Decode draws from a Gaussian fitted to training codes (see the module doc: this is the weak spot)."""
        self.eval()
        eps = torch.randn((n, self.config.latent), generator=sampling_generator(seed)).to(self.code_mean.device)
        chol = torch.linalg.cholesky(self.code_cov + 1e-5 * torch.eye(self.config.latent, device=eps.device))
        return self.decode(self.code_mean + eps @ chol.T).cpu()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        self.eval()
        return self.decode(self.encode(x)).cpu()
