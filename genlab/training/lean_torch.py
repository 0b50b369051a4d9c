"""Keep PyTorch's compiler out of a process that never compiles: about 70 MB less peak memory.

Some of ``torch.optim.Optimizer``'s methods (``add_param_group``, ``load_state_dict``, …) are wrapped by
``torch._compile._disable_dynamo``, which imports ``torch._dynamo`` — the whole ``torch.compile``
stack, ~70 MB resident — on their first call, only to mark them as "never trace this"; and
``Adam.step`` imports it on every call to place two graph breaks around the update. A process that
will not call ``torch.compile`` gets nothing from either. :func:`skip_compiler_import` gives each such
wrapper the plain method as its cached "disabled" version (the attribute the wrapper looks up before
importing), and :class:`AdamW` runs the undecorated update under ``no_grad`` while dynamo is not
loaded; the arithmetic is PyTorch's own, unchanged. Measured with ``benchmarks/shakespeare_char.py``
(``gpt-tiny-fast``, 2-core CPU): peak RSS 379 → 309 MB, below nanoGPT's 365 MB in the same run.

It only touches wrappers of that exact shape and does nothing when ``torch._dynamo`` is already
loaded, so a PyTorch that changes the mechanism costs memory, not correctness. Call it only where
nothing will compile (``genlab train`` without ``--compile``): if something compiles later, dynamo
would trace into those methods instead of skipping them.
"""

from __future__ import annotations

import inspect
import sys

import torch


def _disable_wrappers(owner: type) -> list:
    """The functions of ``owner`` (and its bases) wrapped by ``torch._compile._disable_dynamo``."""
    if getattr(getattr(torch, "_compile", None), "_disable_dynamo", None) is None:
        return []
    found = []
    for klass in inspect.getmro(owner):
        for value in vars(klass).values():
            inner = getattr(value, "__wrapped__", None)
            wrapper = getattr(getattr(value, "__code__", None), "co_qualname", "")
            if callable(inner) and wrapper == "_disable_dynamo.<locals>.inner":
                found.append(inner)
    return found


def skip_compiler_import(optimizer_types: tuple[type, ...] = (torch.optim.Optimizer,)) -> int:
    """Stop ``optimizer_types``' methods from importing ``torch._dynamo``; how many were changed."""
    if "torch._dynamo" in sys.modules:
        return 0
    changed = 0
    for owner in optimizer_types:
        for fn in _disable_wrappers(owner):
            if getattr(fn, "__dynamo_disable", None) is None:
                fn.__dynamo_disable = fn  # what the wrapper calls in place of dynamo's disabled version
                changed += 1
    return changed


#: AdamW's update without the decorator that imports dynamo (None: this PyTorch has no such decorator)
_PLAIN_ADAMW_STEP = getattr(torch.optim.AdamW.step, "__wrapped__", None)


class AdamW(torch.optim.AdamW):
    """PyTorch's AdamW; while ``torch._dynamo`` is not loaded, its step skips the import and graph breaks.

    With dynamo loaded (something compiles in this process) it is PyTorch's step, decorator and all.
    """

    def step(self, closure=None):  # type: ignore[override]
        if _PLAIN_ADAMW_STEP is None or "torch._dynamo" in sys.modules or self.defaults.get("differentiable"):
            return super().step(closure)
        with torch.no_grad():
            return _PLAIN_ADAMW_STEP(self, closure)
