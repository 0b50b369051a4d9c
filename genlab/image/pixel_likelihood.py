"""p(x | decoder output) for images whose pixels take ``levels`` discrete values: an honest likelihood.

Few levels (the digits' 17): a categorical distribution per pixel — ``levels`` logits each, so a pixel
may be "surely blank or surely full" at once. Many levels (8-bit, 256): a discretised logistic per pixel
(PixelCNN++ style: the logistic's mass on the bin of width 1/(levels-1) around each value, the end bins
taking the tails), which needs 2 outputs per pixel instead of 256. Both return log-probabilities of the
*discrete* pixel values, so −log p / (dims · ln 2) is directly bits/dim, with no dequantisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CATEGORICAL_MAX_LEVELS = 64


def outputs_per_channel(levels: int) -> int:
    return levels if levels <= CATEGORICAL_MAX_LEVELS else 2


def to_levels(x: torch.Tensor, levels: int) -> torch.Tensor:
    """[0, 1] floats → integer levels 0 … levels-1."""
    return torch.round(x.clamp(0, 1) * (levels - 1)).long()


def _split(out: torch.Tensor, channels: int, levels: int) -> torch.Tensor:
    b, _, h, w = out.shape
    return out.view(b, channels, outputs_per_channel(levels), h, w)  # (B, C, K, H, W)


def log_prob(out: torch.Tensor, x: torch.Tensor, levels: int) -> torch.Tensor:
    """Sum over pixels of log p(x | out): ``out`` [B, C·K, H, W] from a decoder, ``x`` in [0, 1] → [B]."""
    c = x.shape[1]
    params = _split(out, c, levels)
    k = to_levels(x, levels)
    if levels <= CATEGORICAL_MAX_LEVELS:
        logp = -F.cross_entropy(params.transpose(1, 2), k, reduction="none")  # logits as (B, K, C, H, W)
        return logp.flatten(1).sum(1)
    mean, log_scale = params[:, :, 0], params[:, :, 1].clamp(min=-7.0)
    half = 0.5 / (levels - 1)
    centre = k.float() / (levels - 1)
    inv_s = torch.exp(-log_scale)
    upper, lower = inv_s * (centre + half - mean), inv_s * (centre - half - mean)
    log_cdf_upper = -F.softplus(-upper)  # log σ(upper): used for the lowest bin
    log_sf_lower = -F.softplus(lower)  # log(1 − σ(lower)): used for the highest bin
    mid = torch.log((torch.sigmoid(upper) - torch.sigmoid(lower)).clamp(min=1e-12))
    logp = torch.where(k == 0, log_cdf_upper, torch.where(k == levels - 1, log_sf_lower, mid))
    return logp.flatten(1).sum(1)


def mean_image(out: torch.Tensor, channels: int, levels: int) -> torch.Tensor:
    """E[x | out] in [0, 1]: a smooth summary (reconstructions and interpolations show it)."""
    params = _split(out, channels, levels)
    if levels <= CATEGORICAL_MAX_LEVELS:
        values = torch.linspace(0, 1, levels, device=out.device).view(1, 1, levels, 1, 1)
        return (torch.softmax(params, dim=2) * values).sum(2)
    return params[:, :, 0].clamp(0, 1)


def mode_image(out: torch.Tensor, channels: int, levels: int) -> torch.Tensor:
    """The most likely level of each pixel, in [0, 1]."""
    params = _split(out, channels, levels)
    if levels <= CATEGORICAL_MAX_LEVELS:
        return params.argmax(2).float() / (levels - 1)
    return to_levels(params[:, :, 0], levels).float() / (levels - 1)


def sample_image(out: torch.Tensor, channels: int, levels: int, generator: torch.Generator) -> torch.Tensor:
    """One draw of every pixel from p(x | out), in [0, 1] (CPU tensors; ``generator`` makes it repeatable)."""
    params = _split(out.cpu(), channels, levels)
    if levels <= CATEGORICAL_MAX_LEVELS:
        b, c, k, h, w = params.shape
        probs = torch.softmax(params.float(), dim=2).permute(0, 1, 3, 4, 2).reshape(-1, k)
        draws = torch.multinomial(probs, 1, generator=generator).view(b, c, h, w)
        return draws.float() / (levels - 1)
    mean, log_scale = params[:, :, 0], params[:, :, 1].clamp(min=-7.0)
    u = torch.rand(mean.shape, generator=generator).clamp(1e-5, 1 - 1e-5)
    x = mean + torch.exp(log_scale) * (torch.log(u) - torch.log1p(-u))  # inverse logistic CDF
    return to_levels(x, levels).float() / (levels - 1)
