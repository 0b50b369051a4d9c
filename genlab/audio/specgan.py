"""SpecGAN (Donahue et al. 2019, WaveGAN's sibling), with the word drawn apart from where it is said.

WaveGAN draws 8,000 samples and must discover pitch, formants and phase from raw audio; in CPU
minutes it learns none of them (inception score ~1.2 against 7.7 for real clips). SpecGAN draws the
short-time spectrum instead and leaves the phase to Griffin-Lim. Two changes make it learn in minutes:

- **The word apart from its place** (the video generator's object trick, for sound): a spoken digit
  fills about a third of its clip and starts anywhere in the first 0.15 s. The GAN is trained on
  ``window``-frame crops centred on each real clip's energy centroid, so the generator draws only
  the word. A sample puts the word at a start drawn from the real clips' own starts (counted during
  training) on the real clips' noise floor. The window is 48 frames (0.77 s), not 32: 99 % of the
  energy fits in 32, but the judge hears the rest. Real held-out clips rebuilt from their own crops
  by this model's sampling path score 6.2 from 32-frame crops and 6.9 from 48-frame ones, against
  7.0 from the whole clip and 7.7 as they are (the judge's inception score at ±3 spreads,
  ``benchmarks/audio_judge_ceiling.py``).
- **DiffAugment for spectra** (``augment``): the critic sees real and generated crops shifted in time
  by up to 3 frames and with a SpecAugment-style band of frequencies and run of frames masked to the
  floor. With ~50 clips a word the critic otherwise memorises the real crops within a few thousand
  steps and the generator's signal fades.

The pieces:

- **spectra**: log power ``log(|STFT|² + 1e-6)`` (256-point Hann window, hop 128: the judge's STFT),
  normalised per frequency bin with the mean and spread of the first training batch, clipped to
  ±``spread_clip`` spreads and scaled to [−1, 1]. The clip is 4 spreads, not 3: at 3 the loudest
  formant peaks are cut, and the 48-frame crops of real clips rebuilt as above score 6.9 instead
  of 7.3. Like ActNorm's data-dependent initialisation, the statistics are measured once, then
  saved with the weights;
- **generator**: z (plus the word's embedding when ``conditional``) → dense → 1D transposed
  convolutions over time (kernel 8, stride 4, BatchNorm, ReLU) → a 1D convolution to the 129
  frequency bins → tanh: a ``[129, window]`` crop. With ``word_norm`` each BatchNorm takes its scale
  and shift from the word (conditional BatchNorm), as the projection critic's paper pairs it;
- **critic**: 2D convolutions over (frequency, time) (kernel 4, stride 2, LeakyReLU 0.2) and a linear
  score, plus the projection term ``⟨embed(y), h⟩`` when conditional (Miyato & Koyama 2018); hinge loss;
  spectrally normalised layers (``spectral_norm``). The critic's width is what pays here: in the same
  300 CPU-s with 32-frame crops, ``d_width`` 96 scored 3.6–3.9 in ~3,000 steps where 64 scored 3.6 in
  ~4,700 and 32 scored 2.4 in 7,000 (``benchmarks/media_families.py``). It is stored channels-last,
  oneDNN's own layout, which makes a float32 step ~10 % faster;
- **training**: Adam at 8e-4 for both networks; the paper's 2e-4 scored 2.7 against 3.5 with seed 1
  and the same 3.3 with seed 0, in 300 s. Batches of 16: in 300 CPU-s the model is still improving
  when time runs out, and 16 clips a step gave ~4,700-5,100 steps and 3.9-4.2 where 32 gave ~2,800
  and 3.6-4.3 (seeds 0-2);
- **sound**: the crop is placed, denormalised to a magnitude, and ``griffin_lim`` iterations of
  Griffin & Lim (1984) find a phase that fits it (random phase alone halves the judge's score:
  ``benchmarks/audio_judge_ceiling.py``).

Samples come from an exponential moving average of the generator, whose BatchNorm statistics are
re-measured for the averaged weights before sampling (``standing`` batches, "standing statistics" as
in BigGAN): the live generator's statistics belong to other weights, and re-measuring them raised the
inception score of the same checkpoint by 0.2–0.3.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genlab.audio.spectrogram import HOP, N_FFT, griffin_lim, stft
from genlab.audio.words import sample_words, training_words
from genlab.errors import GenlabError
from genlab.image.ema import EMA
from genlab.image.protocol import sampling_generator

BINS = N_FFT // 2 + 1  # 129
EPS = 1e-6


@dataclass
class SpecGANConfig:
    latent: int = 64
    g_width: int = 128  # the generator's channels
    d_width: int = 96  # the critic's widest 2D layer has 2·d_width channels
    window: int = 48  # frames of the word crop (a multiple of 16; 48 frames = 0.77 s)
    conditional: bool = True  # a class-conditional GAN (the data's words; false for unlabelled clips)
    classes: int = 0  # how many words a conditional model knows (set from the data)
    augment: bool = True  # DiffAugment: time shifts and masks on both sides of the critic
    word_norm: bool = True  # conditional BatchNorm: each word its own scale and shift in every generator layer
    spectral_norm: bool = True  # the critic's layers spectrally normalised (SNGAN)
    spread_clip: float = 4.0  # normalised spectra are clipped to ± this many spreads of their bin
    griffin_lim: int = 16  # phase-retrieval iterations when sampling
    ema: float = 0.99
    standing: int = 8  # batches of 64 that re-measure the averaged generator's BatchNorm statistics (0: live ones)
    lr_g: float = 8e-4
    lr: float = 8e-4  # critic
    beta1: float = 0.5
    beta2: float = 0.9
    batch_size: int = 16  # more, noisier steps: see the module's docstring
    steps: int = 20000
    eval_interval: int = 500
    early_stop: int = 0  # adversarial losses do not converge; the trainer keeps the best-FD checkpoint


class WordNorm(nn.BatchNorm1d):
    """BatchNorm whose scale and shift depend on the word (conditional BatchNorm, de Vries et al. 2017):
    the word shapes every layer of the generator, not only its input. Without words, plain BatchNorm."""

    def __init__(self, width: int, classes: int) -> None:
        super().__init__(width, affine=not classes)
        self.scale = self.shift = None
        if classes:
            self.scale, self.shift = nn.Embedding(classes, width), nn.Embedding(classes, width)
            nn.init.ones_(self.scale.weight)
            nn.init.zeros_(self.shift.weight)

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = super().forward(h)
        if self.scale is None:
            return h
        return h * self.scale(labels)[:, :, None] + self.shift(labels)[:, :, None]


class CropGenerator(nn.Module):
    """z ``[B, latent]`` → normalised log-power crop ``[B, 129, window]`` in (−1, 1)."""

    def __init__(self, latent: int, width: int, window: int, classes: int = 0, word_norm: bool = False) -> None:
        super().__init__()
        self.embed = nn.Embedding(classes, latent) if classes else None  # a word's offset to z
        self.width, self.start = width, window // 16
        self.dense = nn.Linear(latent, width * self.start)
        words = classes if word_norm else 0
        self.body = nn.ModuleList([  # the indices are the saved weights' names: keep them
            WordNorm(width, words), nn.ReLU(),
            nn.ConvTranspose1d(width, width, 8, 4, padding=2), WordNorm(width, words), nn.ReLU(),  # length × 4
            nn.ConvTranspose1d(width, width, 8, 4, padding=2), WordNorm(width, words), nn.ReLU(),  # × 4 again
            nn.Conv1d(width, BINS, 5, padding=2), nn.Tanh()])

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = z + self.embed(labels)
        h = self.dense(z).view(len(z), self.width, self.start)
        for layer in self.body:
            h = layer(h, labels) if isinstance(layer, WordNorm) else layer(h)
        return h


class CropCritic(nn.Module):
    """crop ``[B, 129, window]`` → realness score ``[B]`` through 2D convolutions over (frequency, time)."""

    def __init__(self, width: int, window: int, classes: int = 0, spectral_norm: bool = False) -> None:
        super().__init__()
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        chans = [1, width // 4, width // 2, width, 2 * width]
        layers: list[nn.Module] = []
        for i in range(4):
            layers += [wrap(nn.Conv2d(chans[i], chans[i + 1], 4, 2, 1)), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        features = 2 * width * (BINS // 16) * (window // 16)  # 129 → 64 → 32 → 16 → 8 bins
        self.head = wrap(nn.Linear(features, 1))
        self.embed = nn.Embedding(classes, features) if classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=0.02)  # starts as the unconditional critic

    def forward(self, crops: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(crops[:, None]).flatten(1)
        score = self.head(h)[:, 0]
        return score if self.embed is None else score + (self.embed(labels) * h).sum(1)


class SpecGAN(nn.Module):
    family = "specgan"
    Config = SpecGANConfig
    #: what runs saved before these settings existed were trained and sampled with
    before_settings = {"word_norm": False, "spectral_norm": False, "standing": 0, "spread_clip": 3.0}

    def __init__(self, config: SpecGANConfig, shape: tuple[int, int], levels: int) -> None:
        super().__init__()
        if len(shape) != 2 or shape[0] != 1:
            raise GenlabError(f"SpecGAN takes mono clips [1, T]; the data has shape {list(shape)}")
        frames = shape[1] // HOP + 1
        if config.window < 16 or config.window % 16 or config.window > frames:
            raise GenlabError(f"SpecGAN's window must be a multiple of 16 frames and at most the clip's {frames} "
                              f"frames; got {config.window}")
        if (min(config.latent, config.g_width, config.d_width) < 1 or config.d_width % 4 or config.griffin_lim < 0
                or config.standing < 0 or not config.spread_clip > 0):
            raise GenlabError("SpecGAN needs latent, g_width ≥ 1, d_width a positive multiple of 4, "
                              "griffin_lim, standing ≥ 0 and spread_clip > 0")
        if config.conditional and config.classes < 2:
            raise GenlabError("a conditional SpecGAN needs clips of at least two words (sub-folders of --data, or "
                              "builtin:spoken-digits); add --set conditional=false for unlabelled clips")
        self.config, self.shape, self.levels = config, tuple(shape), levels
        self.length, self.frames = shape[1], frames
        classes = config.classes if config.conditional else 0
        self.generator = CropGenerator(config.latent, config.g_width, config.window, classes, config.word_norm)
        # channels-last (NHWC), oneDNN's own layout: a float32 step ~10 % faster and a bfloat16 one ~15 % on the
        # 2-core AMD EPYC; checkpoints are unchanged (weights are saved contiguous)
        self.critic = CropCritic(config.d_width, config.window, classes, config.spectral_norm).to(
            memory_format=torch.channels_last)
        self.ema = EMA(self.generator, config.ema)
        # measured on the first training batch, then saved with the weights
        self.register_buffer("mean", torch.full((BINS, 1), -10.0))
        self.register_buffer("spread", torch.full((BINS, 1), 3.0))
        self.register_buffer("floor", torch.full((BINS,), -1.0))  # the noise floor, normalised
        self.register_buffer("measured", torch.zeros((), dtype=torch.bool))
        self.register_buffer("starts", torch.zeros(frames - config.window + 1))  # where real words start

    @property
    def conditional(self) -> bool:
        """Whether the trainer must hand ``training_step`` the clips' labels."""
        return self.config.conditional

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        betas = (self.config.beta1, self.config.beta2)
        return {"g": torch.optim.Adam(self.generator.parameters(), lr=self.config.lr_g, betas=betas),
                "d": torch.optim.Adam(self.critic.parameters(), lr=self.config.lr, betas=betas)}

    # --- spectra ------------------------------------------------------------------------------------
    def log_power(self, clips: torch.Tensor) -> torch.Tensor:
        """Clips ``[B, 1, T]`` → ``log(|STFT|² + 1e-6)`` ``[B, 129, frames]``."""
        return torch.log(stft(clips).abs() ** 2 + EPS)

    @torch.no_grad()
    def _measure(self, power: torch.Tensor) -> None:
        """The per-bin statistics and the noise floor of the first training batch (data-dependent init)."""
        self.mean.copy_(power.mean((0, 2))[:, None])
        self.spread.copy_(power.std((0, 2))[:, None].clamp_min(1e-3))
        normal = self.normalise(power)
        energy = power.exp().sum(1)  # (B, frames)
        quiet = energy <= energy.flatten().quantile(0.3)
        self.floor.copy_(normal.transpose(1, 2)[quiet].mean(0))
        self.measured.fill_(True)

    def normalise(self, power: torch.Tensor) -> torch.Tensor:
        clip = self.config.spread_clip
        return ((power - self.mean) / self.spread).clamp(-clip, clip) / clip

    def word_starts(self, power: torch.Tensor) -> torch.Tensor:
        """Each clip's crop start: its energy centroid minus half a window, kept inside the clip."""
        energy = power.exp().sum(1)  # (B, frames)
        centroid = (energy * torch.arange(self.frames, device=power.device)).sum(1) / energy.sum(1).clamp_min(EPS)
        return (centroid.round().long() - self.config.window // 2).clamp(0, self.frames - self.config.window)

    def crops(self, clips: torch.Tensor) -> torch.Tensor:
        """Real clips → their normalised, energy-centred crops ``[B, 129, window]`` (and counts their starts)."""
        power = self.log_power(clips)
        if not bool(self.measured):
            self._measure(power)
        starts = self.word_starts(power)
        if self.training:
            self.starts += torch.bincount(starts, minlength=len(self.starts)).to(self.starts.dtype)
        index = starts[:, None] + torch.arange(self.config.window, device=clips.device)  # (B, window)
        return torch.gather(self.normalise(power), 2, index[:, None, :].expand(-1, BINS, -1))

    def augment(self, crops: torch.Tensor) -> torch.Tensor:
        """DiffAugment for spectra: a time shift of −3…3 frames, then a band of ≤ 12 bins and a run of ≤ 4
        frames set to the noise floor (each crop its own); differentiable in the crop's values."""
        if not self.config.augment:
            return crops
        b, bins, w = crops.shape
        dev = crops.device
        shift = torch.randint(-3, 4, (b, 1), device=dev)
        index = (torch.arange(w, device=dev)[None] - shift).clamp(0, w - 1)
        crops = torch.gather(crops, 2, index[:, None, :].expand(-1, bins, -1))
        low, size = torch.randint(0, bins - 12, (b, 1), device=dev), torch.randint(0, 13, (b, 1), device=dev)
        band = torch.arange(bins, device=dev)[None]
        first, run = torch.randint(0, w - 4, (b, 1), device=dev), torch.randint(0, 5, (b, 1), device=dev)
        frame = torch.arange(w, device=dev)[None]
        masked = ((band >= low) & (band < low + size))[:, :, None] | ((frame >= first) & (frame < first + run))[:, None]
        return torch.where(masked, self.floor[None, :, None].to(crops.dtype), crops)

    # --- training -----------------------------------------------------------------------------------
    def training_step(self, x: torch.Tensor, optimizers: dict, labels: torch.Tensor | None = None) -> dict[str, float]:
        """One critic update on the clips' word crops and fresh fakes, then one generator update (hinge loss)."""
        self.train()
        if self.config.conditional and labels is None:
            raise GenlabError("a conditional SpecGAN trains on labelled clips: pass the batch's labels")
        b = len(x)
        real = self.crops(x)
        with torch.no_grad():
            fake = self.generator(torch.randn((b, self.config.latent), device=x.device), labels)
        both = torch.cat([self.augment(real), self.augment(fake)])  # one critic pass: larger, faster convolutions
        scores = self.critic(both, None if labels is None else torch.cat([labels, labels]))
        d_real, d_fake = scores[:b], scores[b:]
        d_loss = torch.relu(1 - d_real).mean() + torch.relu(1 + d_fake).mean()
        optimizers["d"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["d"].step()
        words = training_words(self.config, b, x.device)
        fake = self.generator(torch.randn((b, self.config.latent), device=x.device), words)
        self.critic.requires_grad_(False)  # the generator's update needs no gradients for the critic's weights
        try:
            g_loss = -self.critic(self.augment(fake), words).mean()
            optimizers["g"].zero_grad(set_to_none=True)
            g_loss.backward()
        finally:
            self.critic.requires_grad_(True)
        optimizers["g"].step()
        self.ema.update(self.generator)
        return {"g_loss": g_loss.item(), "d_loss": d_loss.item(), "d_real": d_real.mean().item(),
                "d_fake": d_fake.mean().item()}

    # --- sound --------------------------------------------------------------------------------------
    def to_sound(self, normal: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Normalised log power ``[B, 129, frames]`` → clips ``[B, 1, T]``: random phase, then Griffin-Lim."""
        magnitude = ((normal * self.config.spread_clip * self.spread + self.mean).exp() - EPS).clamp_min(0).sqrt()
        return griffin_lim(magnitude, self.length, self.config.griffin_lim, gen).clamp(-1, 1)[:, None]

    def place(self, crops: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Each crop on the noise floor at a start drawn from the real words' starts: ``[B, 129, frames]``."""
        counts = self.starts if float(self.starts.sum()) > 0 else torch.ones_like(self.starts)
        starts = torch.multinomial(counts.cpu().float(), len(crops), replacement=True, generator=gen).to(crops.device)
        return self.put(crops, starts)

    def put(self, crops: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        """Each crop on the noise floor from frame ``starts[i]`` on: ``[B, 129, frames]``."""
        canvas = self.floor[None, :, None].expand(len(crops), BINS, self.frames).clone()
        index = starts[:, None] + torch.arange(self.config.window, device=crops.device)
        return canvas.scatter(2, index[:, None, :].expand(-1, BINS, -1), crops)

    def _feed(self, net: nn.Module) -> None:
        """``standing`` batches of 64 fresh crops (the words in turn), from a fixed seed: the same weights
        always get the same statistics."""
        gen = sampling_generator(0)
        device = self.ema.updates.device
        for _ in range(self.config.standing):
            z = torch.randn((64, self.config.latent), generator=gen).to(device)
            words = sample_words(self.config, 64, None, "SpecGAN")
            net(z, None if words is None else words.to(device))

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` clips ``[n, 1, T]`` in [−1, 1]; the same clips for the same seed and weights.

        A conditional model says ``labels[i]`` in clip i; without labels the words take turns (0, 1, 2, …).
        """
        self.eval()
        gen = sampling_generator(seed)
        z = torch.randn((n, self.config.latent), generator=gen)
        labels = sample_words(self.config, n, labels, "SpecGAN")
        device = self.ema.updates.device
        net = self.ema.standing(self._feed) if self.config.standing else self.ema.net
        out = []
        for i in range(0, n, 128):
            words = None if labels is None else labels[i:i + 128].to(device)
            crops = net(z[i:i + 128].to(device), words)
            out.append(self.to_sound(self.place(crops, gen), gen).cpu())
        return torch.cat(out)
