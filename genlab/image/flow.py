"""Normalizing flow (RealNVP): the decoder is exactly the encoder's inverse, so the likelihood is exact.

Lecture order:
1. *Dequantise*: a pixel with level k of L becomes y = (k + u) / L, u ~ U[0, 1), a point in [0, 1]; a
   density on y then bounds the probability of the discrete image: log P(k) ≥ E_u log p(y) − D·log L.
2. *Logit*: y → logit(α + (1 − 2α)·y) stretches [0, 1] onto the real line (α keeps the ends finite).
3. *Affine coupling layers*: a mask splits the pixels in two; the kept half passes unchanged and a small
   network reads it to give a scale s and shift t for the other half: x₂ ← x₂·exp(s) + t. Undoing it
   needs only the kept half (x₂ ← (x₂ − t)·exp(−s)), and the Jacobian is triangular, so
   log|det| = Σ s. The networks are small ResNets of 3×3 convolutions: checkerboard masks at full
   resolution, a *squeeze* (2×2 pixels → 4 channels) and channel-half masks, then checkerboards
   again, alternating which half moves. (``net="mlp"``: MLPs that see every kept pixel, the kept half
   cycling through checkerboards and row/column stripes; on the digits they learn less per CPU second.)
4. *Change of variables*: log p(y) = log N(f(y); 0, I) + log|det ∂f/∂y|, summed over every step above.

Sampling runs the flow backwards from Gaussian noise (``temperature`` < 1 narrows that noise). Because
1,100 digits are learnt by heart within a minute, the trainer early-stops on validation bits/dim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genlab.errors import GenlabError
from genlab.image.nets import ResBlock
from genlab.image.protocol import fixed_noise, sampling_generator


@dataclass
class FlowConfig:
    net: str = "conv"  # coupling networks: "conv" (ResNet on the image) or "mlp" (sees all pixels)
    couplings: int = 2  # conv: per group (checkerboard, channel, checkerboard); mlp: in all
    width: int = 32  # conv channels / mlp hidden units
    blocks: int = 1  # conv residual blocks / mlp hidden layers per coupling network
    mix: bool = False  # conv: an invertible 1×1 convolution before each channel coupling (Glow)
    dropout: float = 0.0  # on the coupling networks' features while training (the flow stays exactly invertible)
    alpha: float = 0.05  # logit squashing margin
    temperature: float = 1.0  # std of the base noise when sampling
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    clip: float = 100.0
    steps: int = 3000
    eval_interval: int = 100
    early_stop: int = 8


def checkerboard(h: int, w: int, parity: int) -> torch.Tensor:
    ii, jj = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((ii + jj + parity) % 2).float().view(1, 1, h, w)


def stripes(h: int, w: int, parity: int, rows: bool) -> torch.Tensor:
    ii, jj = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (((ii if rows else jj) + parity) % 2).float().view(1, 1, h, w)


def squeeze(x: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] → [B, 4C, H/2, W/2]: each 2×2 patch becomes 4 channels (a permutation: log|det| = 0)."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(b, c * 4, h // 2, w // 2)


def unsqueeze(x: torch.Tensor) -> torch.Tensor:
    b, c, h, w = x.shape
    x = x.view(b, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(b, c // 4, h * 2, w * 2)


class ConvST(nn.Module):
    """s, t from the kept pixels by a small ResNet (the mask is an extra input channel)."""

    def __init__(self, channels: int, mask: torch.Tensor, width: int, blocks: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.register_buffer("where", mask[:, :1].clone())
        self.net = nn.Sequential(nn.Conv2d(channels + 1, width, 3, padding=1),
                                 *[ResBlock(width, norm="none", act=nn.ReLU) for _ in range(blocks)],
                                 nn.ReLU(), nn.Dropout(dropout), nn.Conv2d(width, 2 * channels, 3, padding=1))

    def forward(self, kept: torch.Tensor) -> torch.Tensor:
        where = self.where.expand(len(kept), 1, *kept.shape[2:])
        return self.net(torch.cat([kept, where], 1))  # (B, 2C, H, W)


class MLPST(nn.Module):
    """s, t from the kept pixels by an MLP that sees all of them at once."""

    def __init__(self, shape: tuple[int, int, int], width: int, layers: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.shape = shape
        dims = math.prod(shape)
        hidden: list[nn.Module] = [nn.Linear(dims, width), nn.ReLU(), nn.Dropout(dropout)]
        for _ in range(layers - 1):
            hidden += [nn.Linear(width, width), nn.ReLU(), nn.Dropout(dropout)]
        self.net = nn.Sequential(*hidden, nn.Linear(width, 2 * dims))

    def forward(self, kept: torch.Tensor) -> torch.Tensor:
        c, h, w = self.shape
        return self.net(kept.flatten(1)).view(len(kept), 2 * c, h, w)


class AffineCoupling(nn.Module):
    """x_moved ← x_moved · exp(s(x_kept)) + t(x_kept), with ``mask`` = 1 on the kept entries."""

    def __init__(self, channels: int, mask: torch.Tensor, st: nn.Module) -> None:
        super().__init__()
        self.register_buffer("mask", mask)
        self.st = st
        nn.init.zeros_(st.net[-1].weight)  # start as the identity map
        nn.init.zeros_(st.net[-1].bias)
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))

    def _s_t(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.st(kept).chunk(2, dim=1)
        s = self.scale * torch.tanh(s)  # bounded log-scale: stable early in training
        moved = 1 - self.mask
        return s * moved, t * moved

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self._s_t(x * self.mask)
        return x * torch.exp(s) + t, s.flatten(1).sum(1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        s, t = self._s_t(y * self.mask)
        return (y - t) * torch.exp(-s)


class ChannelMix(nn.Module):
    """An invertible 1×1 convolution (Glow): a learnt rotation of the channels at every pixel,
    log|det| = H·W·log|det W|. Lets the fixed channel halves of the next coupling be any split."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        q, _ = torch.linalg.qr(torch.randn(channels, channels))
        self.weight = nn.Parameter(q)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.weight.shape[0]
        logdet = x.shape[2] * x.shape[3] * torch.linalg.slogdet(self.weight)[1]
        return F.conv2d(x, self.weight.view(c, c, 1, 1)), logdet.expand(len(x))

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        c = self.weight.shape[0]
        return F.conv2d(y, torch.linalg.inv(self.weight).view(c, c, 1, 1))


class RealNVP(nn.Module):
    family = "flow"
    Config = FlowConfig
    sampling_settings = ("temperature",)  # may change after training (``--set`` of sample/eval)

    def __init__(self, config: FlowConfig, shape: tuple[int, int, int], levels: int) -> None:
        super().__init__()
        if config.net not in ("mlp", "conv"):
            raise GenlabError(f"flow net {config.net!r}: use conv or mlp")
        self.config, self.shape, self.levels = config, tuple(shape), levels
        c, h, w = shape
        self.dims = math.prod(shape)
        n, width, blocks, drop = config.couplings, config.width, config.blocks, config.dropout
        if config.net == "mlp":
            # all at full resolution; the kept half cycles through checkerboards, row and column stripes
            masks = [checkerboard(h, w, 0), checkerboard(h, w, 1), stripes(h, w, 0, True), stripes(h, w, 1, True),
                     stripes(h, w, 0, False), stripes(h, w, 1, False)]
            self.full = nn.ModuleList(
                AffineCoupling(c, masks[i % 6].expand(1, c, h, w).clone(), MLPST(shape, width, blocks, drop))
                for i in range(n))
            self.channel, self.squeezed = nn.ModuleList(), nn.ModuleList()
            return

        def conv_coupling(channels: int, mask: torch.Tensor) -> AffineCoupling:
            return AffineCoupling(channels, mask, ConvST(channels, mask, width, blocks, drop))

        sq = (4 * c, h // 2, w // 2)  # shape after the squeeze
        half = torch.zeros(1, 4 * c, 1, 1)
        half[:, : 2 * c] = 1
        self.full = nn.ModuleList(conv_coupling(c, checkerboard(h, w, i % 2)) for i in range(n))
        self.channel = nn.ModuleList()
        for i in range(n):
            if config.mix:
                self.channel.append(ChannelMix(sq[0]))
            self.channel.append(conv_coupling(sq[0], (half if i % 2 == 0 else 1 - half).expand(1, *sq).clone()))
        self.squeezed = nn.ModuleList(conv_coupling(sq[0], checkerboard(sq[1], sq[2], i % 2)) for i in range(n))

    # --- the bijection y ∈ (0, 1)^D ↔ z ∈ R^D -----------------------------------------------------------
    def forward(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z, log|det ∂z/∂y|) for dequantised images ``y`` in (0, 1)."""
        a = self.config.alpha
        s = a + (1 - 2 * a) * y
        x = torch.log(s) - torch.log1p(-s)  # logit
        logdet = (math.log(1 - 2 * a) - torch.log(s) - torch.log1p(-s)).flatten(1).sum(1)
        for layer in self.full:
            x, ld = layer(x)
            logdet = logdet + ld
        if len(self.channel):
            x = squeeze(x)
            for layer in [*self.channel, *self.squeezed]:
                x, ld = layer(x)
                logdet = logdet + ld
            x = unsqueeze(x)
        return x, logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        x = z
        if len(self.channel):
            x = squeeze(x)
            for layer in reversed([*self.channel, *self.squeezed]):
                x = layer.inverse(x)
            x = unsqueeze(x)
        for layer in reversed(self.full):
            x = layer.inverse(x)
        a = self.config.alpha
        return (torch.sigmoid(x) - a) / (1 - 2 * a)

    def log_density(self, y: torch.Tensor) -> torch.Tensor:
        """Exact log p(y) [B] (nats) of dequantised images by the change of variables."""
        z, logdet = self(y)
        log_base = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
        return log_base + logdet

    def dequantise(self, x: torch.Tensor) -> torch.Tensor:
        """[0, 1] images on ``levels`` values → y = (k + u) / L with fresh uniform noise u."""
        k = torch.round(x.clamp(0, 1) * (self.levels - 1))
        return (k + torch.rand_like(k)) / self.levels

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Lower bound on log P(discrete image) [B] in nats, with one dequantisation draw."""
        return self.log_density(self.dequantise(x)) - self.dims * math.log(self.levels)

    # --- training --------------------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"flow": torch.optim.AdamW(self.parameters(), lr=self.config.lr,
                                          weight_decay=self.config.weight_decay)}

    def training_step(self, x: torch.Tensor, optimizers: dict) -> dict[str, float]:
        self.train()
        loss = -self.log_prob(x).mean() / (self.dims * math.log(2))  # bits/dim
        opt = optimizers["flow"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.clip:
            nn.utils.clip_grad_norm_(self.parameters(), self.config.clip)
        opt.step()
        return {"bits_per_dim": loss.item()}

    @torch.no_grad()
    def validation_loss(self, x: torch.Tensor) -> float:
        self.eval()
        with fixed_noise():
            return -self.log_prob(x).mean().item() / (self.dims * math.log(2))

    @torch.no_grad()
    def test_bits_per_dim(self, x: torch.Tensor, levels: int, seed: int = 0) -> tuple[float, str]:
        self.eval()
        with fixed_noise(seed):
            value = -self.log_prob(x).mean().item() / (self.dims * math.log(2))
        return value, "exact density, dequantisation bound"

    # --- generation ------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """Invert the flow on Gaussian noise; the bin y = (k + u) / L falls in gives the discrete image k.

        That is an exact draw from the discrete distribution whose likelihood ``log_prob`` bounds.
        """
        self.eval()
        z = torch.randn((n, *self.shape), generator=sampling_generator(seed)) * self.config.temperature
        y = self.inverse(z.to(self.full[0].mask.device))
        levels = self.levels
        return (y * levels).floor().clamp(0, levels - 1).cpu() / (levels - 1)  # the level whose bin y fell in
