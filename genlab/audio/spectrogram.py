"""Log-mel spectrograms: how the classifier hears a clip and how the pictures show one.

A short-time Fourier transform (32 ms Hann windows every 16 ms at 8 kHz) gives the energy of each
frequency over time; 40 triangular filters spaced evenly on the mel scale (HTK formula
``mel = 2595 log10(1 + f / 700)``) pool it the way hearing resolves pitch — finely low, coarsely
high — and a logarithm turns loudness into something closer to what ears report.
"""

from __future__ import annotations

import functools
import math

import torch

N_FFT = 256
HOP = 128
MELS = 40


def _mel(f: torch.Tensor) -> torch.Tensor:
    return 2595.0 * torch.log10(1.0 + f / 700.0)


@functools.cache
def mel_filters(sample_rate: int, n_fft: int = N_FFT, mels: int = MELS) -> torch.Tensor:
    """``[mels, n_fft // 2 + 1]`` triangular filters, each peaking at 1 on its centre frequency."""
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)
    top = _mel(torch.tensor(sample_rate / 2.0, dtype=torch.float64))
    points = torch.linspace(0, float(top), mels + 2, dtype=torch.float64)
    hz = 700.0 * (10 ** (points / 2595.0) - 1.0)
    lo, mid, hi = hz[:-2, None], hz[1:-1, None], hz[2:, None]
    rising = (bins[None] - lo) / (mid - lo)
    falling = (hi - bins[None]) / (hi - mid)
    return torch.clamp(torch.minimum(rising, falling), min=0).float()


def log_mel(x: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """Clips ``[B, 1, T]`` (or ``[B, T]``) in [-1, 1] → log-mel energies ``[B, 1, MELS, frames]`` (CPU, no grad)."""
    return log_mel_energies(x.detach().float().cpu(), sample_rate)[:, None]  # (B, 1, MELS, frames)


def stft(x: torch.Tensor) -> torch.Tensor:
    """Clips ``[B, T]`` or ``[B, 1, T]`` → their complex short-time spectra ``[B, N_FFT/2 + 1, frames]`` (float32)."""
    x = x.float().reshape(len(x), -1)  # the STFT in float32 even under autocast
    return torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT, device=x.device), center=True,
                      return_complex=True)


def istft(spec: torch.Tensor, length: int) -> torch.Tensor:
    """The inverse of :func:`stft`: clips ``[B, length]``."""
    return torch.istft(spec, N_FFT, HOP, window=torch.hann_window(N_FFT, device=spec.device), center=True,
                       length=length)


def griffin_lim(magnitude: torch.Tensor, length: int, iterations: int, generator: torch.Generator) -> torch.Tensor:
    """Clips ``[B, length]`` whose STFT magnitude is close to ``magnitude [B, bins, frames]``: a random phase
    (drawn on the CPU from ``generator``), then ``iterations`` rounds of Griffin & Lim (1984), each keeping the
    phase of the last clip's STFT and the wanted magnitude."""
    phase = torch.rand(magnitude.shape, generator=generator).to(magnitude.device) * (2 * math.pi)
    wave = istft(torch.polar(magnitude, phase), length)
    for _ in range(iterations):
        wave = istft(torch.polar(magnitude, stft(wave).angle()), length)
    return wave


def log_mel_energies(x: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """The same energies ``[B, MELS, frames]`` on ``x``'s device, differentiable (a GAN's spectral critic)."""
    spec = stft(x).abs() ** 2  # (B, F, frames)
    mel = torch.einsum("mf,bft->bmt", mel_filters(sample_rate).to(spec.device), spec)
    return torch.log(mel + 1e-6)
