"""genlab GPT ⇄ Hugging Face GPT-2 tensors: the same names, with GPT-2's Conv1D layout.

HF's GPT-2 stores each linear layer as a ``Conv1D`` whose weight is ``(in, out)``, the transpose of
``nn.Linear``'s ``(out, in)``; everything else (embeddings, LayerNorms, biases) is the same tensor
under the same name with a ``transformer.`` prefix. A genlab GPT without biases exports zero biases
(GPT-2 always has them), and a tied head is stored once, as ``wte`` (``tie_word_embeddings``).
"""

from __future__ import annotations

import torch

from genlab.errors import GenlabError

#: the linear layers of one block (stored transposed by GPT-2's Conv1D)
LINEARS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
#: the LayerNorms of one block
NORMS = ("ln_1", "ln_2")


def to_hf(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A genlab GPT's weights as HF ``GPT2LMHeadModel`` tensors (contiguous float32 copies)."""
    config = model.config
    out: dict[str, torch.Tensor] = {}

    def put(name: str, tensor: torch.Tensor) -> None:
        out[name] = tensor.detach().float().contiguous().clone()

    t = model.transformer
    put("transformer.wte.weight", t.wte.weight)
    put("transformer.wpe.weight", t.wpe.weight)
    for i, block in enumerate(t.h):
        for norm in NORMS:
            ln = getattr(block, norm)
            put(f"transformer.h.{i}.{norm}.weight", ln.weight)
            put(f"transformer.h.{i}.{norm}.bias", _bias(ln.bias, ln.weight.shape[0]))
        for path in LINEARS:
            linear = block.get_submodule(path)
            weight = _linear_weight(linear)
            put(f"transformer.h.{i}.{path}.weight", weight.t())  # Conv1D: (in, out)
            put(f"transformer.h.{i}.{path}.bias", _bias(linear.bias, weight.shape[0]))
    put("transformer.ln_f.weight", t.ln_f.weight)
    put("transformer.ln_f.bias", _bias(t.ln_f.bias, t.ln_f.weight.shape[0]))
    if not config.tie_weights:
        put("lm_head.weight", _linear_weight(model.lm_head))
    return out


def from_hf(tensors: dict[str, torch.Tensor], n_layer: int, tied: bool) -> dict[str, torch.Tensor]:
    """HF GPT-2 tensors as a genlab GPT's state dict (the inverse of :func:`to_hf`)."""
    tensors = {k.removeprefix("model."): v for k, v in tensors.items()}  # some savers add a prefix
    if not any(k.startswith("transformer.") for k in tensors):
        tensors = {f"transformer.{k}" if not k.startswith("lm_head.") else k: v for k, v in tensors.items()}
    out: dict[str, torch.Tensor] = {}

    def take(name: str) -> torch.Tensor:
        if name not in tensors:
            raise GenlabError(f"the checkpoint has no tensor {name!r}: it is not a GPT2LMHeadModel of this config")
        return tensors[name].float()

    out["transformer.wte.weight"] = take("transformer.wte.weight")
    out["transformer.wpe.weight"] = take("transformer.wpe.weight")
    for i in range(n_layer):
        for norm in NORMS:
            for part in ("weight", "bias"):
                out[f"transformer.h.{i}.{norm}.{part}"] = take(f"transformer.h.{i}.{norm}.{part}")
        for path in LINEARS:
            out[f"transformer.h.{i}.{path}.weight"] = take(f"transformer.h.{i}.{path}.weight").t().contiguous()
            out[f"transformer.h.{i}.{path}.bias"] = take(f"transformer.h.{i}.{path}.bias")
    out["transformer.ln_f.weight"] = take("transformer.ln_f.weight")
    out["transformer.ln_f.bias"] = take("transformer.ln_f.bias")
    out["lm_head.weight"] = out["transformer.wte.weight"] if tied or "lm_head.weight" not in tensors \
        else take("lm_head.weight")
    return out


def _linear_weight(linear: torch.nn.Module) -> torch.Tensor:
    weight = getattr(linear, "weight", None)
    if not isinstance(weight, torch.Tensor):  # an int8 module: weight() is a method
        raise GenlabError("export needs the float weights; export the run, not a quantized copy")
    return weight


def _bias(bias: torch.Tensor | None, size: int) -> torch.Tensor:
    return bias if bias is not None else torch.zeros(size)
