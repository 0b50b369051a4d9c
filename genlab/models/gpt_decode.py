"""The GPT's one-token decoding step, with as few PyTorch calls as the arithmetic needs.

Decoding one token per row runs the same arithmetic as ``GPT.forward`` on a length-1 sequence, but
at batch 1 to 8 the arithmetic is small: a 6-layer, 384-wide GPT does 25 weight products per token,
and going through ``nn.Module`` calls, reshapes and masks added ~200 more small calls whose
dispatch cost as much as the products did. A :class:`DecodePlan` gathers each layer's tensors once
and :func:`forward_rows` calls only the operations themselves (about 16 per layer).

The weight products use oneDNN's pre-packed weights on a CPU (``torch.ops.mkldnn``, the kernels
``torch.compile`` uses after freezing): the weight is reordered once into the blocked layout the
kernel reads, instead of on every call, which measured 1.3× faster than ``F.linear`` at batch 1
and 1.8× at batch 8 on the 2-core test machine; the GELU and the residual addition ride along in
the same call. The packed copy costs one more copy of the float weights in memory while the plan
lives. Layers that are not a plain ``nn.Linear`` (an int8 layer from :mod:`genlab.quantize`, a LoRA
adapter) are called as they are, so every form of the model decodes through the same step.

A plan is rebuilt when a weight changes: its key holds each tensor's version counter, which moves on
every in-place update made through PyTorch's autograd-aware operations. The fused AdamW kernel, which
genlab's training uses where the device has one, writes the weights without moving it (checked on
torch 2.13's CPU kernel: version 0 before and after a step, 2 with ``foreach``), so the
training loop also drops every plan after each optimizer step (:func:`forget_plans`): RL fine-tuning,
which samples between steps, then always decodes its current weights. A plan is used only where no
gradient is wanted: training never goes through here.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn
from torch.nn import functional as F

from genlab.inference_dtype import cpu_has_native_bfloat16

#: ``x[N, in] -> y[N, out]``
Project = Callable[[torch.Tensor], torch.Tensor]
#: ``(x[N, in], residual[N, out]) -> residual + y``
ProjectAdd = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@lru_cache(maxsize=2)
def packed_linear_available(dtype: torch.dtype = torch.float32) -> bool:
    """Whether this PyTorch build has oneDNN's packed linear kernels for ``dtype`` (and they compute ``F.linear``).

    bfloat16 counts only where the CPU computes it natively (AVX-512 BF16 or AMX): elsewhere oneDNN
    converts every operand and a packed bfloat16 product is slower than float32.
    """
    try:
        if dtype == torch.bfloat16 and not cpu_has_native_bfloat16():
            return False
        w, x = torch.randn(8, 4).to(dtype), torch.randn(2, 4).to(dtype)
        packed = torch.ops.mkldnn._reorder_linear_weight(w)
        y = torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [], "")
        tolerance = 1e-5 if dtype == torch.float32 else 5e-2
        return bool(torch.allclose(y.float(), F.linear(x, w).float(), atol=tolerance))
    except (AttributeError, RuntimeError):
        return False


def _packable(linear: nn.Module) -> bool:
    w = getattr(linear, "weight", None)
    return (type(linear) is nn.Linear and w.device.type == "cpu" and w.dtype in (torch.float32, torch.bfloat16)
            and packed_linear_available(w.dtype))


def projection(linear: nn.Module, gelu: str | None = None) -> Project:
    """``linear`` (then GELU, ``"none"``/``"tanh"`` as ``nn.GELU(approximate=…)``) on a ``[N, in]`` input."""
    if _packable(linear):
        packed, bias = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach()), _detached(linear.bias)
        attr, algorithm = ("none", "") if gelu is None else ("gelu", gelu)
        return lambda x: torch.ops.mkldnn._linear_pointwise(x, packed, bias, attr, [], algorithm)
    if type(linear) is nn.Linear:
        weight, bias = linear.weight.detach(), _detached(linear.bias)
        base: Project = lambda x: F.linear(x, weight, bias)  # noqa: E731
    else:  # an int8 layer, a LoRA adapter, ...: the module's own forward (directly, when no hook needs the call)
        base = linear if linear._forward_hooks or linear._forward_pre_hooks else linear.forward
    if gelu is None:
        return base
    return lambda x: F.gelu(base(x), approximate=gelu)


def residual_projection(linear: nn.Module) -> ProjectAdd:
    """``residual + linear(x)``, the addition fused into the product where the kernel can."""
    if _packable(linear):
        packed, bias = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach()), _detached(linear.bias)
        return lambda x, residual: torch.ops.mkldnn._linear_pointwise.binary(x, residual, packed, bias, "add")
    project = projection(linear)
    return lambda x, residual: residual + project(x)


def _detached(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach()


@dataclass
class LayerPlan:
    ln_1: tuple[torch.Tensor | None, torch.Tensor | None, float]  # weight, bias, eps
    qkv: Project  # c_attn: (N, C) -> (N, 3C)
    attn_out: ProjectAdd  # x + c_proj(heads)
    ln_2: tuple[torch.Tensor | None, torch.Tensor | None, float]
    fc: Project  # GELU(c_fc(x)): (N, C) -> (N, 4C)
    mlp_out: ProjectAdd  # x + c_proj(hidden)


@dataclass
class DecodePlan:
    layers: list[LayerPlan]
    ln_f: tuple[torch.Tensor | None, torch.Tensor | None, float]
    head: Project  # (N, C) -> (N, V)
    wte: torch.Tensor
    wpe: torch.Tensor
    n_head: int
    head_size: int
    key: tuple  # what the plan was built from (see _plan_key)


_PLANS: weakref.WeakKeyDictionary[nn.Module, DecodePlan] = weakref.WeakKeyDictionary()


def _norm(ln: nn.LayerNorm) -> tuple[torch.Tensor | None, torch.Tensor | None, float]:
    return _detached(ln.weight), _detached(ln.bias), ln.eps


def _plan_key(model: nn.Module) -> tuple:
    """Which modules and which weight versions a plan was built from: a change to either rebuilds it."""
    return tuple((id(m), *((id(p), p._version) for p in m.parameters(recurse=False))) for m in model.modules())


def forget_plans() -> None:
    """Drop every plan, so that the next decoding step of any model packs its weights anew."""
    _PLANS.clear()


def decode_plan(model: nn.Module) -> DecodePlan:
    """The model's plan, built on first use and again whenever its weights or layers changed."""
    key = _plan_key(model)
    plan = _PLANS.get(model)
    if plan is not None and plan.key == key:
        return plan
    c, t = model.config, model.transformer
    with torch.no_grad():
        layers = [LayerPlan(ln_1=_norm(b.ln_1), qkv=projection(b.attn.c_attn),
                            attn_out=residual_projection(b.attn.c_proj), ln_2=_norm(b.ln_2),
                            fc=projection(b.mlp.c_fc, b.mlp.gelu.approximate),
                            mlp_out=residual_projection(b.mlp.c_proj)) for b in t.h]
        plan = DecodePlan(layers=layers, ln_f=_norm(t.ln_f), head=projection(model.lm_head),
                          wte=t.wte.weight.detach(), wpe=t.wpe.weight.detach(), n_head=c.n_head,
                          head_size=c.n_embd // c.n_head, key=key)
    _PLANS[model] = plan
    return plan


def fast_decoding(model: nn.Module) -> bool:
    """Whether a step may take the plan's path: no gradient wanted, no dropout active, and GPT-2's layout.

    The plan knows learned positions, plain attention and a GELU MLP only; a model with rotary
    positions, QK-norm or ReLU² (``GPTConfig.non_gpt2_options``) decodes through its blocks' own code.
    """
    config = model.config
    return (not torch.is_grad_enabled() and not (model.training and config.dropout > 0)
            and config.positions == "learned" and not config.qk_norm and config.activation in ("gelu", "gelu_tanh"))


#: ``(layer, k[B, T, nh, hs], v[B, T, nh, hs]) -> (keys, values)``, each ``[B, nh, S, hs]``: store the new
#: positions' keys and values, and return every position the rows' queries may look at
WriteRead = Callable[[int, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def forward_rows(plan: DecodePlan, tokens: torch.Tensor, positions: torch.Tensor, write_read: WriteRead,
                 bias: torch.Tensor | None = None) -> torch.Tensor:
    """The final LayerNorm's output ``[B, T, C]`` after feeding ``tokens[B, T]`` behind what the cache holds.

    ``positions``: the position embeddings to add (broadcast to ``[B, T, C]``); ``bias[B or 1, 1, T, S]``:
    added to the attention scores, 0 where a query may look and ``-inf`` where it may not (None: every
    position ``write_read`` returns). One token per row behind a mask goes through two small batched
    products per layer; everything else (prompts, unmasked decoding) through ``scaled_dot_product_attention``.
    """
    B, T = tokens.shape
    nh, hs = plan.n_head, plan.head_size
    C = nh * hs
    shape = (C,)
    scale = 1.0 / math.sqrt(hs)
    # one token per row behind a mask (a server's batch of rows at different positions): two batched
    # products with one bias row per (row, head) beat the fused kernel's mask handling; without a mask
    # (every row sees every position, as at batch 1) the fused kernel is ~10 µs a layer faster
    products = T == 1 and bias is not None
    if products:
        bias = bias.expand(B, 1, 1, -1).repeat_interleave(nh, dim=0).flatten(0, 2)[:, None, :]  # (B·nh, 1, S)
    x = torch.embedding(plan.wte, tokens) + positions  # (B, T, C)
    for index, layer in enumerate(plan.layers):
        h = torch.layer_norm(x, shape, *layer.ln_1)
        q, k, v = layer.qkv(h).view(B, T, 3, nh, hs).unbind(2)  # each (B, T, nh, hs)
        keys, values = write_read(index, k, v)  # (B, nh, S, hs)
        if products:
            # bias + q·kᵀ/√hs in one call (a Python float multiplier would cost a tensor of its own)
            scores = torch.baddbmm(bias, q.reshape(B * nh, 1, hs), keys.flatten(0, 1).transpose(1, 2),
                                   alpha=scale)  # (B·nh, 1, S)
            heads = torch.bmm(torch.softmax(scores, dim=-1), values.flatten(0, 1))  # (B·nh, 1, hs)
        else:
            heads = F.scaled_dot_product_attention(q.transpose(1, 2), keys, values, attn_mask=bias)  # (B, nh, T, hs)
            heads = heads.transpose(1, 2)  # (B, T, nh, hs)
        x = layer.attn_out(heads.reshape(B, T, C), x)  # the heads side by side
        x = layer.mlp_out(layer.fc(torch.layer_norm(x, shape, *layer.ln_2)), x)
    return torch.layer_norm(x, shape, *plan.ln_f)  # (B, T, C)
