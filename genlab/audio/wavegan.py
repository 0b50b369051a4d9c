"""WaveGAN (Donahue, McAuley & Puckette 2019), scaled down: a GAN that draws the waveform itself.

The course's audio generator is "1D CNN, GAN". WaveGAN is DCGAN flattened to one dimension:

- the *generator* turns a latent vector into a waveform: dense → reshape to ``[8w, L0]`` → four 1D
  transposed convolutions (kernel 25, stride 4: each makes the signal 4× longer and halves the
  channels, ReLU between) → tanh, cropped to the clip length (8,000 samples at 8 kHz: 8192 made);
- the *discriminator* mirrors it with strided 1D convolutions (kernel 25, stride 4, LeakyReLU 0.2)
  and a linear score. After each of its layers *phase shuffle* moves every example's feature map by
  a random −n…n samples (reflection-padded): transposed convolutions leave periodic artefacts at a
  fixed phase, and a discriminator that cannot rely on phase cannot use them to win trivially;
- the loss is the *hinge* loss (D: ``relu(1 − D(x)) + relu(1 + D(G(z)))``, G: ``−D(G(z))``) or, as in
  the paper, *WGAN-GP* (D: ``D(G(z)) − D(x) + λ (‖∇D(x̂)‖ − 1)²`` on random interpolates x̂; G:
  ``−D(G(z))``); ``d_steps`` discriminator updates precede each generator update.

The paper's model (d = 64, 16,384 samples) would take a CPU days; here ``width`` (their d) is 8 and
the clips are 1 s at 8 kHz. Samples come from an exponential moving average of the generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.image.ema import EMA
from genlab.image.protocol import sampling_generator

KERNEL, STRIDE, UPSAMPLINGS = 25, 4, 4


@dataclass
class WaveGANConfig:
    latent: int = 64
    width: int = 8  # the paper's d (64): the generator's last hidden layer has `width` channels, its first 8·width
    phase_shuffle: int = 2  # n: shift each discriminator feature map by −n…n samples (0 turns it off)
    loss: str = "hinge"  # "hinge" or "wgan-gp"
    gp_weight: float = 10.0  # λ of WGAN-GP
    d_steps: int = 1  # discriminator updates per generator update (the paper: 5, with WGAN-GP)
    ema: float = 0.999
    lr_g: float = 2e-4
    lr: float = 2e-4  # discriminator
    beta1: float = 0.5
    beta2: float = 0.9
    batch_size: int = 32
    steps: int = 3000
    eval_interval: int = 250
    early_stop: int = 0  # adversarial losses do not converge; the trainer keeps the best-FD checkpoint


class Generator(nn.Module):
    """z ``[B, latent]`` → waveform ``[B, 1, 4^4·L0]`` in (−1, 1)."""

    def __init__(self, latent: int, width: int, length: int) -> None:
        super().__init__()
        self.start = math.ceil(length / STRIDE ** UPSAMPLINGS)  # L0
        self.channels = 8 * width
        self.dense = nn.Linear(latent, self.channels * self.start)
        layers: list[nn.Module] = [nn.ReLU()]
        ch = self.channels
        for i in range(UPSAMPLINGS):
            out = 1 if i == UPSAMPLINGS - 1 else ch // 2
            # length in → 4·length out: (L − 1)·4 − 2·11 + 25 + 1
            layers.append(nn.ConvTranspose1d(ch, out, KERNEL, STRIDE, padding=11, output_padding=1))
            layers.append(nn.Tanh() if out == 1 else nn.ReLU())
            ch = out
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.dense(z).view(len(z), self.channels, self.start))  # (B, 1, 4^4·L0)


def phase_shuffle(x: torch.Tensor, n: int) -> torch.Tensor:
    """Shift each example of ``x [B, C, L]`` by its own random k ∈ [−n, n], filling the gap by reflection."""
    if n == 0:
        return x
    b, c, length = x.shape
    k = torch.randint(-n, n + 1, (b,), device=x.device)
    padded = nn.functional.pad(x, (n, n), mode="reflect")  # (B, C, L + 2n)
    index = torch.arange(length, device=x.device)[None, :] + (n - k)[:, None]  # (B, L)
    return padded.gather(2, index[:, None, :].expand(b, c, length))


class Discriminator(nn.Module):
    """waveform ``[B, 1, T]`` → realness score ``[B, 1]`` (no sigmoid: hinge and WGAN use raw scores)."""

    def __init__(self, width: int, length: int, shuffle: int) -> None:
        super().__init__()
        self.shuffle = shuffle
        chans = [1, width, 2 * width, 4 * width, 8 * width]
        self.convs = nn.ModuleList(nn.Conv1d(chans[i], chans[i + 1], KERNEL, STRIDE, padding=11)
                                   for i in range(len(chans) - 1))
        for _ in self.convs:
            length = (length + 2 * 11 - KERNEL) // STRIDE + 1
        self.act = nn.LeakyReLU(0.2)
        self.head = nn.Linear(chans[-1] * length, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, conv in enumerate(self.convs):
            x = self.act(conv(x))
            if i < len(self.convs) - 1 and self.training:
                x = phase_shuffle(x, self.shuffle)
        return self.head(x.flatten(1))


class WaveGAN(nn.Module):
    family = "wavegan"
    Config = WaveGANConfig

    def __init__(self, config: WaveGANConfig, shape: tuple[int, int], levels: int) -> None:
        super().__init__()
        if len(shape) != 2 or shape[0] != 1:
            raise GenlabError(f"WaveGAN takes mono clips [1, T]; the data has shape {list(shape)}")
        if config.loss not in ("hinge", "wgan-gp"):
            raise GenlabError(f"unknown WaveGAN loss {config.loss!r}: use hinge or wgan-gp")
        if config.d_steps < 1 or config.width < 1 or config.latent < 1 or config.phase_shuffle < 0:
            raise GenlabError("WaveGAN needs d_steps, width and latent ≥ 1 and phase_shuffle ≥ 0")
        self.config, self.shape, self.levels = config, tuple(shape), levels
        self.length = shape[1]
        self.generator = Generator(config.latent, config.width, self.length)
        self.discriminator = Discriminator(config.width, self.length, config.phase_shuffle)
        self.ema = EMA(self.generator, config.ema)

    def generate(self, z: torch.Tensor, net: nn.Module | None = None) -> torch.Tensor:
        return (net or self.generator)(z)[..., :self.length]  # crop 8192 → T samples

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, self.config.beta2)
        return {"g": torch.optim.Adam(self.generator.parameters(), lr=self.config.lr_g, betas=betas),
                "d": torch.optim.Adam(self.discriminator.parameters(), lr=self.config.lr, betas=betas)}

    def _d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        d_real, d_fake = self.discriminator(real), self.discriminator(fake)
        if self.config.loss == "hinge":
            loss = torch.relu(1 - d_real).mean() + torch.relu(1 + d_fake).mean()
        else:
            mix = torch.rand((len(real), 1, 1), device=real.device)
            between = (mix * real + (1 - mix) * fake).requires_grad_(True)
            grad, = torch.autograd.grad(self.discriminator(between).sum(), between, create_graph=True)
            penalty = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            loss = d_fake.mean() - d_real.mean() + self.config.gp_weight * penalty
        return loss, d_real, d_fake

    def training_step(self, x: torch.Tensor, optimizers: dict) -> dict[str, float]:
        """``d_steps`` discriminator updates on ``x`` (clips in [-1, 1]) and fresh fakes, then one generator update."""
        self.train()
        b = len(x)
        for _ in range(self.config.d_steps):
            with torch.no_grad():
                fake = self.generate(torch.randn((b, self.config.latent), device=x.device))
            d_loss, d_real, d_fake = self._d_loss(x, fake)
            optimizers["d"].zero_grad(set_to_none=True)
            d_loss.backward()
            optimizers["d"].step()
        g_loss = -self.discriminator(self.generate(torch.randn((b, self.config.latent), device=x.device))).mean()
        optimizers["g"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["g"].step()
        self.ema.update(self.generator)
        return {"g_loss": g_loss.item(), "d_loss": d_loss.item(), "d_real": d_real.mean().item(),
                "d_fake": d_fake.mean().item()}

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` clips ``[n, 1, T]`` in (−1, 1); the same clips for the same seed and weights."""
        self.eval()
        z = torch.randn((n, self.config.latent), generator=sampling_generator(seed))
        device = self.ema.updates.device
        return torch.cat([self.generate(z[i:i + 256].to(device), self.ema.net).cpu() for i in range(0, n, 256)])
