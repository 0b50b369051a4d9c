"""What every image generator looks like from outside, so one trainer, one sampler and one evaluator serve all.

An image model is a ``torch.nn.Module`` built as ``Model(config, shape, levels)`` from its family's
``Config`` dataclass, the image shape ``(C, H, W)`` and the number of pixel levels. It provides:

- ``family`` (str) and ``config`` (its ``Config``, saved in ``config.json``);
- ``configure_optimizers() -> dict[str, Optimizer]`` (the GAN has two);
- ``training_step(x, optimizers) -> dict[str, float]``: one update on a batch ``x`` of floats in [0, 1];
  the first entry is the loss the progress bar shows; randomness comes from torch's global generator,
  which the trainer seeds and saves for resume;
- ``validation_loss(x) -> float``: what early stopping minimises (deterministic: fixed noise); a family
  without such a number (the GAN) leaves it out and the trainer selects by digits FID instead;
- ``sample(n, seed) -> Tensor[n, C, H, W]`` in [0, 1], the same images for the same seed and weights.

A class-conditional model (so far the WaveGAN with ``conditional=true``) also has ``conditional = True``:
the trainer then passes each batch's labels as ``training_step(x, optimizers, labels=y)``, ``new_run``
fills its config's ``classes`` from the data, and ``sample(n, seed, labels=None)`` draws the classes
asked for (in turn when none are given, so the metrics see every class).

Likelihood models also give ``log_prob(x) -> Tensor[n]`` and ``test_bits_per_dim(x, levels, seed)``.
Optional, used by the pictures when present: ``reconstruct(x)``, ``interpolate(a, b, steps)``,
``denoising_strip(n, seed, frames)``; ``sampling_settings`` names the config fields that may change
after training (e.g. the diffusion sampler) and ``config_changed()`` re-reads them.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any, Protocol

import torch

#: family name -> "module:Class"
FAMILIES: dict[str, str] = {
    "autoencoder": "genlab.image.autoencoder:Autoencoder",
    "vae": "genlab.image.vae:VAE",
    "gan": "genlab.image.gan:GAN",
    "flow": "genlab.image.flow:RealNVP",
    "diffusion": "genlab.image.diffusion:DDPM",
}


class ImageModel(Protocol):
    family: str
    config: Any

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    def training_step(self, x: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]: ...

    def sample(self, n: int, seed: int = 0) -> torch.Tensor: ...


def take_step(model: ImageModel, x: torch.Tensor, optimizers: dict[str, torch.optim.Optimizer],
              labels: torch.Tensor | None = None) -> dict[str, float]:
    """``model.training_step`` on a batch, handing a conditional model its batch's labels."""
    if labels is None:
        return model.training_step(x, optimizers)
    return model.training_step(x, optimizers, labels=labels)


def family_class(name: str) -> type:
    """The model class of a family (imported lazily: a family's code loads only when used)."""
    from genlab.errors import GenlabError

    if name not in FAMILIES:
        raise GenlabError(f"unknown image model {name!r}; choose one of {', '.join(FAMILIES)}")
    module, cls = FAMILIES[name].split(":")
    return getattr(importlib.import_module(module), cls)


def sampling_generator(seed: int) -> torch.Generator:
    """A private CPU generator: sampling never disturbs (or depends on) the global RNG."""
    return torch.Generator().manual_seed(int(seed))


@contextlib.contextmanager
def fixed_noise(seed: int = 1234) -> Iterator[None]:
    """Validation draws the same noise every evaluation, so losses compare across steps (global RNG restored)."""
    with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
        torch.manual_seed(seed)
        yield
