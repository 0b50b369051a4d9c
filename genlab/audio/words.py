"""Which word each clip of a class-conditional audio GAN says (WaveGAN and SpecGAN alike).

``config`` is the model's config: ``conditional`` (a bool) and ``classes`` (how many words it knows).
"""

from __future__ import annotations

from typing import Any

import torch

from genlab.errors import GenlabError


def training_words(config: Any, b: int, device: torch.device) -> torch.Tensor | None:
    """The words of a generator update's ``b`` fakes: uniform over the words (None when unconditional)."""
    return torch.randint(0, config.classes, (b,), device=device) if config.conditional else None


def sample_words(config: Any, n: int, labels: torch.Tensor | None, name: str) -> torch.Tensor | None:
    """The words of ``n`` samples: ``labels`` as asked, else the words in turn (0, 1, 2, …); an unconditional
    model (``name`` in the message) takes no words."""
    if config.conditional:
        return torch.arange(n) % config.classes if labels is None else torch.as_tensor(labels).long()
    if labels is not None:
        raise GenlabError(f"this {name} is unconditional (it says no word on request); train one with "
                          "--set conditional=true to choose the word")
    return None
