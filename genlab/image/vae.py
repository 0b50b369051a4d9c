"""Variational autoencoder (VAE): learn the distribution of latent vectors, then sample new images from it.

Lecture order: an encoder reads an image into a Gaussian q(z | x) over a small latent vector (mean and
log-variance, not a single point as in the plain autoencoder); the *reparameterisation* z = μ + σ·ε
lets gradients flow through the sampling; a decoder turns z into a distribution over pixel values
p(x | z). Training maximises the evidence lower bound

    ELBO(x) = E_q[log p(x | z)]  −  KL(q(z | x) ‖ N(0, I))      ≤  log p(x)
              (reconstruction)      (keep codes near the prior)

so that codes drawn from the prior N(0, I) decode to plausible images. The bound is reported in bits/dim
on held-out images, together with the tighter importance-weighted estimate (IWAE, k samples), and early
stopping watches the validation ELBO because 1,100 training digits are memorised within a minute.

The decoder gives every pixel a distribution over its discrete levels (``genlab.image.pixel_likelihood``),
so the ELBO is a bound on the probability of the actual image, in bits/dim with no dequantisation; a
sample is x ~ p(x | z) with z from the prior (or, with ``output``, the mean or most likely image).
``prior="mixture"`` learns the prior as a mixture of Gaussians instead of fixing it to N(0, I).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.image import pixel_likelihood
from genlab.image.nets import ConvDecoder, ConvEncoder
from genlab.image.protocol import fixed_noise, sampling_generator


@dataclass
class VAEConfig:
    latent: int = 16
    width: int = 32  # channels at full resolution, doubled per halving
    prior: str = "mixture"  # "mixture": a learned mixture of Gaussians; "normal": the fixed N(0, I)
    prior_components: int = 20
    kl_warmup: int = 300  # steps over which the KL weight rises from 0 to 1 (avoids early posterior collapse)
    iw_samples: int = 128  # importance samples for the held-out log-likelihood estimate
    output: str = "sample"  # what sample() returns: "sample" x ~ p(x|z) (the model's own distribution,
    #                         what bits/dim scores), "mean" E[x|z] (smooth) or "mode" (most likely level)
    lr: float = 2e-3
    batch_size: int = 64
    steps: int = 3000  # when neither --max-steps nor --time-budget is given
    eval_interval: int = 100
    early_stop: int = 8  # evaluations without a better validation ELBO


class MixturePrior(nn.Module):
    """p(z) = Σ_k π_k N(z; m_k, diag s_k²), learned with the rest of the VAE.

    A fixed N(0, I) prior leaves "holes": regions the prior likes but no image's code visits, which
    decode to non-digits. Letting the prior move towards where the codes actually are closes them.
    """

    def __init__(self, latent: int, components: int) -> None:
        super().__init__()
        self.means = nn.Parameter(torch.randn(components, latent))
        self.logvars = nn.Parameter(torch.zeros(components, latent))
        self.logits = nn.Parameter(torch.zeros(components))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """[..., latent] → [...] (nats)."""
        diff = z[..., None, :] - self.means  # (..., K, latent)
        per = (-0.5 * (diff.pow(2) / self.logvars.exp() + self.logvars + math.log(2 * math.pi))).sum(-1)
        return torch.logsumexp(per + torch.log_softmax(self.logits, 0), dim=-1)

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        probs = torch.softmax(self.logits.detach().cpu(), 0)
        k = torch.multinomial(probs, n, replacement=True, generator=generator)
        eps = torch.randn((n, self.means.shape[1]), generator=generator)
        return self.means.detach().cpu()[k] + (0.5 * self.logvars.detach().cpu()[k]).exp() * eps


class VAE(nn.Module):
    family = "vae"
    Config = VAEConfig
    sampling_settings = ("output",)  # may change after training (``--set`` of sample/eval)

    def __init__(self, config: VAEConfig, shape: tuple[int, int, int], levels: int) -> None:
        super().__init__()
        self.config, self.shape, self.levels = config, tuple(shape), levels
        self.dims = math.prod(shape)
        self.encoder = ConvEncoder(shape, config.width, 2 * config.latent)
        out = shape[0] * pixel_likelihood.outputs_per_channel(levels)
        self.decoder = ConvDecoder(config.latent, shape, config.width, out)
        if config.prior not in ("normal", "mixture"):
            raise GenlabError(f"vae prior {config.prior!r}: use normal or mixture")
        if config.output not in ("sample", "mean", "mode"):  # refused now, not after training, at the pictures
            raise GenlabError(f"vae output {config.output!r}: use sample, mean or mode")
        self.prior = MixturePrior(config.latent, config.prior_components) if config.prior == "mixture" else None
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    # --- the model -------------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x) as (mean, log-variance), each [B, latent]."""
        mu, logvar = self.encoder(x * 2 - 1).chunk(2, dim=1)
        return mu, logvar.clamp(-12, 8)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        return pixel_likelihood.mean_image(self.decoder(z), self.shape[0], self.levels)

    def elbo_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log p(x | z) with one reparameterised z, KL(q ‖ prior)), each [B] in nats."""
        mu, logvar = self.encode(x)
        eps = torch.randn_like(mu)
        z = mu + torch.exp(0.5 * logvar) * eps  # reparameterisation
        log_px = pixel_likelihood.log_prob(self.decoder(z), x, self.levels)
        if self.prior is None:
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)  # closed form against N(0, I)
        else:  # one-sample estimate log q(z|x) − log p(z)
            log_qz = (-0.5 * eps.pow(2) - 0.5 * math.log(2 * math.pi) - 0.5 * logvar).sum(1)
            kl = log_qz - self.prior.log_prob(z)
        return log_px, kl

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        if self.prior is None:
            return (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
        return self.prior.log_prob(z)

    # --- training --------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"vae": torch.optim.Adam(self.parameters(), lr=self.config.lr)}

    def training_step(self, x: torch.Tensor, optimizers: dict) -> dict[str, float]:
        self.train()
        self.steps_done += 1
        beta = min(1.0, self.steps_done.item() / max(1, self.config.kl_warmup))
        log_px, kl = self.elbo_terms(x)
        loss = (kl * beta - log_px).mean() / self.dims
        optimizers["vae"].zero_grad(set_to_none=True)
        loss.backward()
        optimizers["vae"].step()
        nats = ((kl - log_px).mean() / self.dims).item()
        return {"bits_per_dim": nats / math.log(2), "kl": kl.mean().item(), "beta": beta}

    @torch.no_grad()
    def validation_loss(self, x: torch.Tensor) -> float:
        """Negative ELBO in bits/dim on validation images (fixed noise)."""
        self.eval()
        with fixed_noise():
            log_px, kl = self.elbo_terms(x)
        return ((kl - log_px).mean() / (self.dims * math.log(2))).item()

    # --- likelihood ------------------------------------------------------------------------------------
    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, k: int | None = None, chunk: int = 4096) -> torch.Tensor:
        """Importance-weighted estimate of log p(x) [B] (nats): log mean_k p(x, z_k) / q(z_k | x).

        With k = 1 it is the ELBO; it rises towards log p(x) as k grows (Burda et al., 2016).
        """
        self.eval()
        k = k or self.config.iw_samples
        mu, logvar = self.encode(x)
        std = torch.exp(0.5 * logvar)
        per_pass = max(1, chunk // max(1, len(x)))
        logw = []
        for start in range(0, k, per_pass):
            n = min(per_pass, k - start)
            eps = torch.randn((n, *mu.shape), device=mu.device)
            z = (mu + std * eps).reshape(-1, mu.shape[1])  # (n·B, latent)
            log_px = pixel_likelihood.log_prob(self.decoder(z), x.repeat(n, 1, 1, 1), self.levels).view(n, -1)
            log_pz = self.log_prior(eps * std + mu)
            log_qz = (-0.5 * eps.pow(2) - 0.5 * math.log(2 * math.pi) - 0.5 * logvar).sum(-1)
            logw.append(log_px + log_pz - log_qz)
        logw = torch.cat(logw)  # (k, B)
        return torch.logsumexp(logw, 0) - math.log(k)

    @torch.no_grad()
    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """ELBO [B] in nats (one z sample; KL in closed form for the N(0, I) prior)."""
        self.eval()
        log_px, kl = self.elbo_terms(x)
        return log_px - kl

    def test_bits_per_dim(self, x: torch.Tensor, levels: int, seed: int = 0) -> tuple[float, str]:
        with fixed_noise(seed):
            bound = -self.elbo(x).mean().item() / (self.dims * math.log(2))
            iwae = -self.log_prob(x).mean().item() / (self.dims * math.log(2))
        return bound, f"ELBO bound; IWAE-{self.config.iw_samples} estimate {iwae:.3f}"

    # --- generation and pictures -----------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """Decode codes drawn from the prior, then draw (or summarise, see ``output``) p(x | z)."""
        self.eval()
        gen = sampling_generator(seed)
        z = torch.randn((n, self.config.latent), generator=gen) if self.prior is None else self.prior.sample(n, gen)
        device = next(self.parameters()).device
        out = self.decoder(z.to(device)).cpu()
        kind = self.config.output
        if kind == "mean":
            return pixel_likelihood.mean_image(out, self.shape[0], self.levels)
        if kind == "mode":
            return pixel_likelihood.mode_image(out, self.shape[0], self.levels)
        if kind == "sample":
            return pixel_likelihood.sample_image(out, self.shape[0], self.levels, gen)
        raise GenlabError(f"vae output {kind!r}: use sample, mean or mode")

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        self.eval()
        return self.decode_mean(self.encode(x)[0]).cpu()

    @torch.no_grad()
    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decode the straight line between the codes of images ``a`` and ``b`` (each [P, C, H, W]) → [P, steps, …]."""
        self.eval()
        za, zb = self.encode(a)[0], self.encode(b)[0]
        t = torch.linspace(0, 1, steps, device=za.device).view(1, steps, 1)
        z = (za[:, None] * (1 - t) + zb[:, None] * t).reshape(-1, za.shape[1])
        return self.decode_mean(z).view(len(a), steps, *self.shape).cpu()
