"""Diffusion model (DDPM): learn to remove noise, then make images by removing it from pure noise.

Lecture order:
1. *Forward process* (adds noise, nothing to learn): x_t = √ᾱ_t·x₀ + √(1 − ᾱ_t)·ε with ε ~ N(0, I),
   where ᾱ_t = Π(1 − β_s) falls from 1 to ~0 over ``timesteps`` steps along a *linear* β schedule
   (Ho et al., 2020) or a *cosine* ᾱ schedule (Nichol & Dhariwal, 2021; gentler at both ends).
2. *Denoiser* ε_θ(x_t, t): a small U-Net (3×3 convolutions, a skip connection across each
   resolution, the step t embedded sinusoidally and added to every block) or, for speed on a CPU, an
   MLP on the flattened pixels. Trained by *ε-prediction*: minimise |ε − ε_θ(x_t, t)|² at random t.
3. *Reverse process* (ancestral sampling): from x_T ~ N(0, I), step t → t − 1 by the Gaussian
   posterior q(x_{t−1} | x_t, x̂₀) around the predicted clean image x̂₀ (clipped to the data range),
   adding fresh noise each step. ``sample_steps`` < ``timesteps`` walks an evenly spaced subsequence
   with the βs recomputed from ᾱ for the bigger jumps ("respacing", Nichol & Dhariwal, 2021): on a
   CPU, 1,000 network calls per image are too many. *DDIM* (Song et al., 2021) is the deterministic
   option on the same subsequence, reusing the same trained network.

The validation loss (ε-MSE of the weight-averaged network at fixed t and noise) drives early stopping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.errors import GenlabError
from genlab.image.ema import EMA
from genlab.image.nets import stages
from genlab.image.protocol import fixed_noise, sampling_generator


@dataclass
class DiffusionConfig:
    net: str = "unet"  # "unet" (convolutional) or "mlp"
    width: int = 32  # unet: channels at full resolution (doubled per halving); mlp: hidden units / 8
    timesteps: int = 1000
    schedule: str = "cosine"  # "cosine" or "linear"
    sampler: str = "ddpm"  # "ddpm" (ancestral, adds noise each step) or "ddim" (deterministic)
    sample_steps: int = 100  # reverse steps, evenly spaced over the timesteps (= timesteps: classic DDPM)
    ema: float = 0.999
    lr: float = 1e-3
    batch_size: int = 128
    steps: int = 20000
    eval_interval: int = 500
    early_stop: int = 10


def beta_schedule(kind: str, timesteps: int) -> torch.Tensor:
    """β_1 … β_T (float64) for the linear or cosine schedule."""
    if kind == "linear":
        scale = 1000 / timesteps  # keeps ᾱ_T ≈ 0 whatever the number of steps
        return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)
    if kind == "cosine":
        s = 0.008
        t = torch.linspace(0, timesteps, timesteps + 1, dtype=torch.float64) / timesteps
        alpha_bar = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
        return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
    raise GenlabError(f"unknown noise schedule {kind!r}: use linear or cosine")


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal features of the step number, as Transformer positions: [B] → [B, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class TimeBlock(nn.Module):
    """Residual block whose features are shifted by a projection of the step embedding."""

    def __init__(self, cin: int, cout: int, tdim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(min(8, cin), cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(min(8, cout), cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class UNet(nn.Module):
    """ε_θ(x_t, t): down to 4×4 (channels ×2 per halving), a middle, and back up with skip connections."""

    def __init__(self, shape: tuple[int, int, int], width: int) -> None:
        super().__init__()
        c, size, _ = shape
        tdim = 4 * width
        self.width = width
        self.time = nn.Sequential(nn.Linear(width, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.stem = nn.Conv2d(c, width, 3, padding=1)
        chans = [width * 2 ** i for i in range(stages(size) + 1)]
        self.down_blocks = nn.ModuleList(TimeBlock(ch, ch, tdim) for ch in chans[:-1])
        self.downsample = nn.ModuleList(nn.Conv2d(a, b, 4, stride=2, padding=1) for a, b in zip(chans, chans[1:]))
        self.mid = nn.ModuleList([TimeBlock(chans[-1], chans[-1], tdim), TimeBlock(chans[-1], chans[-1], tdim)])
        self.upsample = nn.ModuleList(nn.ConvTranspose2d(b, a, 4, stride=2, padding=1)
                                      for a, b in zip(chans, chans[1:]))
        self.up_blocks = nn.ModuleList(TimeBlock(2 * ch, ch, tdim) for ch in chans[:-1])
        self.out = nn.Sequential(nn.GroupNorm(min(8, width), width), nn.SiLU(), nn.Conv2d(width, c, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time(timestep_embedding(t, self.width))
        h = self.stem(x)
        skips = []
        for block, down in zip(self.down_blocks, self.downsample):
            h = block(h, temb)
            skips.append(h)
            h = down(h)  # (B, 2ch, H/2, W/2)
        for block in self.mid:
            h = block(h, temb)
        for block, up in zip(reversed(self.up_blocks), reversed(self.upsample)):
            h = up(h)
            h = block(torch.cat([h, skips.pop()], 1), temb)
        return self.out(h)


class MLPDenoiser(nn.Module):
    """ε_θ(x_t, t) from all pixels at once: residual SiLU MLP with the step embedding added to each layer."""

    def __init__(self, shape: tuple[int, int, int], width: int, layers: int = 3) -> None:
        super().__init__()
        self.shape, self.hidden = shape, 8 * width
        dims = math.prod(shape)
        self.time = nn.Sequential(nn.Linear(self.hidden, self.hidden), nn.SiLU())
        self.inp = nn.Linear(dims, self.hidden)
        self.layers = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(self.hidden), nn.SiLU(), nn.Linear(self.hidden, self.hidden))
            for _ in range(layers))
        self.out = nn.Sequential(nn.LayerNorm(self.hidden), nn.SiLU(), nn.Linear(self.hidden, dims))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time(timestep_embedding(t, self.hidden))
        h = self.inp(x.flatten(1))
        for layer in self.layers:
            h = h + layer(h + temb)
        return self.out(h).view(len(x), *self.shape)


class DDPM(nn.Module):
    family = "diffusion"
    Config = DiffusionConfig
    sampling_settings = ("sampler", "sample_steps")  # may change after training (``--set`` of sample/eval)

    def __init__(self, config: DiffusionConfig, shape: tuple[int, int, int], levels: int) -> None:
        super().__init__()
        self.config, self.shape, self.levels = config, tuple(shape), levels
        if config.net == "unet":
            self.denoiser: nn.Module = UNet(shape, config.width)
        elif config.net == "mlp":
            self.denoiser = MLPDenoiser(shape, config.width)
        else:
            raise GenlabError(f"diffusion net {config.net!r}: use unet or mlp")
        self.ema = EMA(self.denoiser, config.ema)
        self.config_changed()

    def config_changed(self) -> None:
        """(Re)derive the schedule tables from the config (also after sampling settings change)."""
        c = self.config
        if c.sampler not in ("ddpm", "ddim"):
            raise GenlabError(f"diffusion sampler {c.sampler!r}: use ddpm or ddim")
        if c.sample_steps < 1:
            raise GenlabError("sample_steps must be at least 1 (and at most timesteps; more are capped)")
        betas = beta_schedule(c.schedule, c.timesteps)
        alpha_bar = torch.cumprod(1 - betas, 0)
        self.betas, self.alpha_bar = betas, alpha_bar  # float64 tables on the CPU; indexed per step

    # --- training: predict the noise that was added ----------------------------------------------------
    def noisy(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        ab = self.alpha_bar.to(x0.device, torch.float32)[t].view(-1, 1, 1, 1)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * eps

    def loss(self, x: torch.Tensor, net: nn.Module) -> torch.Tensor:
        x0 = x * 2 - 1
        t = torch.randint(0, self.config.timesteps, (len(x),), device=x.device)
        eps = torch.randn_like(x0)
        return F.mse_loss(net(self.noisy(x0, t, eps), t), eps)

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"denoiser": torch.optim.Adam(self.denoiser.parameters(), lr=self.config.lr)}

    def training_step(self, x: torch.Tensor, optimizers: dict) -> dict[str, float]:
        self.train()
        loss = self.loss(x, self.denoiser)
        opt = optimizers["denoiser"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.denoiser.parameters(), 1.0)
        opt.step()
        self.ema.update(self.denoiser)
        return {"eps_mse": loss.item()}

    @torch.no_grad()
    def validation_loss(self, x: torch.Tensor) -> float:
        """ε-MSE of the averaged network, each image at 4 fixed random steps with fixed noise."""
        self.eval()
        with fixed_noise():
            return sum(self.loss(x, self.ema.net).item() for _ in range(4)) / 4

    # --- sampling: remove the noise step by step -------------------------------------------------------
    @torch.no_grad()
    def _reverse(self, n: int, seed: int, frames: int = 0) -> tuple[torch.Tensor, list[torch.Tensor], list[int]]:
        c = self.config
        net, device = self.ema.net, self.ema.updates.device
        gen = sampling_generator(seed)
        x = torch.randn((n, *self.shape), generator=gen).to(device)
        ab = self.alpha_bar
        steps = min(c.sample_steps, c.timesteps)
        times = sorted({int(round(v)) for v in torch.linspace(c.timesteps - 1, 0, steps).tolist()},
                       reverse=True)  # every step when sample_steps == timesteps
        keep = {times[int(round(i))] for i in torch.linspace(0, len(times) - 1, frames).tolist()} if frames else set()
        shots, shot_times = [], []
        for i, t in enumerate(times):
            prev = times[i + 1] if i + 1 < len(times) else -1
            ab_t, ab_prev = ab[t].item(), (ab[prev].item() if prev >= 0 else 1.0)
            eps = net(x, torch.full((n,), t, device=device, dtype=torch.long))
            x0 = ((x - math.sqrt(1 - ab_t) * eps) / math.sqrt(ab_t)).clamp(-1, 1)  # predicted clean image
            if c.sampler == "ddim":
                eps = (x - math.sqrt(ab_t) * x0) / math.sqrt(1 - ab_t)  # consistent with the clipped x̂₀
                x = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps
            else:  # posterior q(x_prev | x_t, x̂₀): mean between x̂₀ and x_t, variance β̃
                beta = 1 - ab_t / ab_prev  # β_t itself when prev = t − 1; the respaced β on a subsequence
                coef0 = math.sqrt(ab_prev) * beta / (1 - ab_t)
                coef_t = math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab_t)
                x = coef0 * x0 + coef_t * x
                if prev >= 0:
                    var = beta * (1 - ab_prev) / (1 - ab_t)
                    x = x + math.sqrt(var) * torch.randn(x.shape, generator=gen).to(device)
            if t in keep:
                shots.append(((x + 1) / 2).clamp(0, 1).cpu())
                shot_times.append(t)
        return ((x + 1) / 2).clamp(0, 1).cpu(), shots, shot_times

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        self.eval()
        return self._reverse(n, seed)[0]

    def denoising_strip(self, n: int, seed: int = 0, frames: int = 10) -> tuple[torch.Tensor, list[int]]:
        """[n, frames, C, H, W]: each sample's state along the reverse process, noisiest first."""
        self.eval()
        _, shots, times = self._reverse(n, seed, frames)
        return torch.stack(shots, 1), times
