"""Which device a command runs on: ``auto`` picks CUDA, then Apple MPS, then the CPU.

Its own module because training, generation, evaluation and serving all need it, and none of them
should import the command-line layer to get it.
"""

from __future__ import annotations

import functools
from pathlib import Path


def resolve_device(name: str) -> str:
    """``auto`` picks what is there; asking for a device that is absent is a clear error."""
    import torch

    from genlab.errors import GenlabError

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise GenlabError("--device cuda: no CUDA GPU is visible to PyTorch (use --device cpu or install a CUDA build)")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GenlabError("--device mps: Apple MPS is not available here (use --device cpu)")
    return name


@functools.cache
def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none: macOS, Windows)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()
