"""VGAN (Vondrick, Pirsiavash & Torralba 2016, "Generating Videos with Scene Dynamics"), scaled down.

The course's video generator is "3D CNN, GAN": convolutions that slide over time as well as space.

- The *generator* draws a moving foreground with a mask over a static background, and the clip is
  ``m ⊙ f + (1 − m) ⊙ b``: what moves and what stays are learned separately. Two foreground streams:
  - ``generator=object`` (the default; ``genlab.video.object_stream``): the object is drawn once by
    the image GAN's decoder and moved along a learned bouncing path, with an optional 3D
    transposed-convolution stream (``dynamics``) that changes it frame by frame and the paper's
    static background stream (``background``);
  - ``generator=volume``: the paper's stream, a 3D transposed-convolution decoder from
    ``[4w, T/8, H/8, W/8]`` with three ×2 upsamplings in time, height and width (BatchNorm, ReLU) to
    the foreground ``f`` (tanh) and mask ``m`` (sigmoid), always with a 2D background stream ``b``.
    Within minutes on a CPU it collapses on moving digits (every latent the same blurred clip); it
    is kept for comparison and for GIF data whose background is not black.
- Two discriminators: the paper's 3D-convolution encoder (stride 2 in time and space, LeakyReLU 0.2,
  a linear score), which judges motion and the clip as a whole, and an *object discriminator*
  (``object_d``; the image GAN's encoder) on glimpses — a few frames of each clip cut to their
  inkiest window (``genlab.video.glimpses``) — which judges what the object looks like. With the
  object generator it also takes ``object_steps`` cheap extra steps a step against the still objects
  of fresh latents: the appearance learns at the image GAN's pace while the clip-level steps teach
  motion.
- The loss is the image GAN's (``genlab.image.gan``): non-saturating, one-sided label smoothing, a
  sum over the discriminators, and samples from an exponential moving average of the generator.
  An L1 penalty on the mask (``mask_l1``) can keep the foreground small: the paper's λ = 0.1 shrank
  the object generator's digits here, so it is off by default.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.errors import GenlabError
from genlab.image.ema import EMA
from genlab.image.nets import SIZES, ConvEncoder
from genlab.image.protocol import sampling_generator
from genlab.video.glimpses import glimpses
from genlab.video.object_stream import ObjectGenerator, transposed_stack

UPSAMPLINGS = 3
GENERATORS = ("object", "volume")


@dataclass
class VGANConfig:
    latent: int = 64
    generator: str = "object"  # "object": a drawn object moved along a path; "volume": the paper's 3D stream
    g_width: int = 16  # the foreground stream's last hidden layer; its first has 4·g_width channels
    d_width: int = 8  # the 3D clip discriminator's first layer
    object_size: int = 8  # the object generator's window, pixels (8, 16, 32 or 64; at most the frame)
    max_speed: float = 2.5  # the object generator's largest speed, pixels per frame on each axis
    dynamics: bool = False  # object generator: a 3D transposed-conv stream changes the object per frame
    background: bool = False  # object generator: the paper's static background stream (else black)
    object_d: bool = True  # the object discriminator on glimpses of each clip
    object_width: int = 32
    glimpses: int = 8  # frames of each clip the object discriminator reads
    object_steps: int = 2  # object generator: extra object-only steps a step (0: none)
    object_batch: int = 64
    mask_l1: float = 0.0  # λ of the mask sparsity penalty (the paper's 0.1 shrank the objects here)
    label_smoothing: float = 0.1
    ema: float = 0.999
    lr_g: float = 2e-4
    lr: float = 2e-4  # discriminators
    beta1: float = 0.5
    batch_size: int = 32
    steps: int = 3000
    eval_interval: int = 250
    early_stop: int = 0  # the trainer keeps the best per-frame FID checkpoint instead


#: what a run saved before a setting existed was built with (``genlab.image.run`` fills these in for
#: settings missing from an older config.json, so older runs load as they were trained)
BEFORE_SETTINGS = {"generator": "volume", "object_d": False}


class VolumeGenerator(nn.Module):
    """The paper's stream: z ``[B, latent]`` → (clip ``[B, C, T, H, W]`` in (−1, 1), mask ``[B, 1, T, H, W]``)."""

    def __init__(self, latent: int, width: int, shape: tuple[int, int, int, int]) -> None:
        super().__init__()
        c, t, h, w = shape
        self.base = (t // 8, h // 8, w // 8)
        self.ch = 4 * width
        self.channels = c
        self.fg_dense = nn.Linear(latent, self.ch * self.base[0] * self.base[1] * self.base[2])
        self.foreground = transposed_stack(3, self.ch, c + 1)  # (B, C + 1, T, H, W): foreground and mask
        self.bg_dense = nn.Linear(latent, self.ch * self.base[1] * self.base[2])
        self.background = transposed_stack(2, self.ch, c)  # (B, C, H, W)

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


def _check(config: VGANConfig, shape: tuple[int, ...]) -> None:
    if len(shape) != 4 or any(s % 8 or s < 8 for s in shape[1:]):
        raise GenlabError(f"VGAN takes clips [C, T, H, W] with T, H and W multiples of 8 (≥ 8); "
                          f"the data has shape {list(shape)}")
    if config.g_width < 4 or config.d_width < 1 or config.latent < 1:
        raise GenlabError("VGAN needs g_width ≥ 4, d_width ≥ 1 and latent ≥ 1")
    if config.generator not in GENERATORS:
        raise GenlabError(f"vgan setting generator={config.generator} is not one of {', '.join(GENERATORS)}; "
                          "pass --set generator=object or --set generator=volume")
    if config.object_size not in SIZES or config.object_size > min(shape[2:]):
        fits = [s for s in SIZES if s <= min(shape[2:])]
        raise GenlabError(f"vgan setting object_size={config.object_size} must be one of {fits} "
                          f"(a power of two from 8 up to the frame's {min(shape[2:])} pixels)")


class VGAN(nn.Module):
    family = "vgan"
    Config = VGANConfig
    before_settings = BEFORE_SETTINGS

    def __init__(self, config: VGANConfig, shape: tuple[int, int, int, int], levels: int) -> None:
        super().__init__()
        _check(config, tuple(shape))
        self.config, self.shape, self.levels = config, tuple(shape), levels
        if config.generator == "object":
            self.generator: nn.Module = ObjectGenerator(config.latent, config.g_width, self.shape, config.object_size,
                                                        config.max_speed, config.dynamics, config.background)
        else:
            self.generator = VolumeGenerator(config.latent, config.g_width, self.shape)
        self.discriminator = Discriminator(config.d_width, self.shape)
        self.object_discriminator = None
        if config.object_d:
            c, s = self.shape[0], config.object_size
            self.object_discriminator = ConvEncoder((c, s, s), config.object_width, 1,
                                                    act=functools.partial(nn.LeakyReLU, 0.2))
        self.ema = EMA(self.generator, config.ema)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, 0.999)
        judges = list(self.discriminator.parameters())
        if self.object_discriminator is not None:
            judges += list(self.object_discriminator.parameters())
        return {"g": torch.optim.Adam(self.generator.parameters(), lr=self.config.lr_g, betas=betas),
                "d": torch.optim.Adam(judges, lr=self.config.lr, betas=betas)}

    def _scores(self, clips: torch.Tensor) -> list[torch.Tensor]:
        """Each discriminator's logits for clips in [−1, 1]: the clip's, then its glimpses' (if on)."""
        scores = [self.discriminator(clips)]
        if self.object_discriminator is not None:
            scores.append(self.object_discriminator(glimpses(clips, self.config.glimpses, self.config.object_size)))
        return scores

    def _d_loss(self, real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
        smooth = 1.0 - self.config.label_smoothing
        return sum(F.binary_cross_entropy_with_logits(r, torch.full_like(r, smooth))
                   + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)) for r, f in zip(real, fake))

    @staticmethod
    def _g_loss(scores: list[torch.Tensor]) -> torch.Tensor:
        return sum(F.binary_cross_entropy_with_logits(s, torch.ones_like(s)) for s in scores)

    def training_step(self, x: torch.Tensor, optimizers: dict) -> dict[str, float]:
        """One update of the discriminators and one of the generator on clips ``x`` in [0, 1], then the
        object generator's extra object-only steps."""
        self.train()
        real = x * 2 - 1
        z = torch.randn((len(x), self.config.latent), device=x.device)
        fake, mask = self.generator(z)

        real_scores, fake_scores = self._scores(real), self._scores(fake.detach())
        d_loss = self._d_loss(real_scores, fake_scores)
        optimizers["d"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["d"].step()

        adversarial = self._g_loss(self._scores(fake))
        mask_mean = mask.mean()
        g_loss = adversarial + self.config.mask_l1 * mask_mean
        optimizers["g"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["g"].step()
        if self.object_discriminator is not None and self.config.generator == "object":
            for _ in range(self.config.object_steps):
                self._object_step(real, optimizers)
        self.ema.update(self.generator)
        return {"g_loss": adversarial.item(), "d_loss": d_loss.item(), "mask": mask_mean.item(),
                "d_real": torch.sigmoid(real_scores[0]).mean().item(),
                "d_fake": torch.sigmoid(fake_scores[0]).mean().item()}

    def _object_step(self, real: torch.Tensor, optimizers: dict) -> None:
        """The image GAN's step between glimpses of real clips and the still objects of fresh latents."""
        seen = glimpses(real, max(1, self.config.object_batch // len(real)), self.config.object_size)
        drawn = self.generator.objects(torch.randn((len(seen), self.config.latent), device=real.device))
        d_loss = self._d_loss([self.object_discriminator(seen)], [self.object_discriminator(drawn.detach())])
        optimizers["d"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["d"].step()
        g_loss = self._g_loss([self.object_discriminator(drawn)])
        optimizers["g"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["g"].step()

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` clips ``[n, C, T, H, W]`` in [0, 1]; the same clips for the same seed and weights."""
        self.eval()
        z = torch.randn((n, self.config.latent), generator=sampling_generator(seed))
        device = self.ema.updates.device
        return torch.cat([(self.ema.net(z[i:i + 128].to(device))[0].cpu() + 1) / 2 for i in range(0, n, 128)])
