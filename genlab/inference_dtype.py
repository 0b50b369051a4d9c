"""``genlab generate/serve --dtype``: decode with the weights stored in bfloat16 (or float16) instead of float32.

A server's work is of two kinds. Decoding a batch of rows reads every weight matrix once per step
(bound by memory: half the bytes in 16 bits), and feeding a prompt multiplies a block of positions
by the same matrices (bound by arithmetic: CPUs with AVX-512 BF16 or AMX do bfloat16 products at
twice the float32 rate or more). On the 2-core AMD EPYC of the test machine (AVX-512 BF16), oneDNN's
packed product of a 384 → 1536 layer took 0.037 / 0.028 ms at batch 1, 0.068 / 0.046 ms at batch 8
and 1.04 / 0.55 ms for 182 prompt positions in float32 / bfloat16.

The whole model is cast (weights, embeddings, LayerNorms, and so the KV cache); scores are returned
in float32, so sampling, logprobs and stop rules are unchanged. Rounding the weights to 8 bits of
mantissa moves the logits a little: ``benchmarks/generate_speed.py`` reports the validation
perplexity of both forms next to their speed (12.0131 against 12.0130 for its 6-layer GPT). On a
CPU without native bfloat16 every product would convert its operands first and run slower than
float32, so that combination is refused rather than silently slow; float16 is for GPUs (CPUs
emulate it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from genlab.errors import GenlabError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cpu_has_native_bfloat16() -> bool:
    """Whether oneDNN computes bfloat16 natively here (AVX-512 BF16, AMX), not by converting to float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cast_for_inference(model: Any, dtype: str, device: str) -> Any:
    """``model`` with its floating-point weights in ``dtype`` (in place); float32 returns it untouched."""
    if dtype not in DTYPES:
        raise GenlabError(f"--dtype must be one of {', '.join(DTYPES)}; got {dtype!r}")
    if dtype == "float32":
        return model
    if not isinstance(model, nn.Module):
        raise GenlabError(f"--dtype {dtype} is for neural models; a {type(model).__name__} has no weights to store "
                          "in 16 bits (drop --dtype)")
    if getattr(model, "quantized", None):
        raise GenlabError(f"--dtype {dtype} and --quantize int8 are two ways of storing the same weights: choose one")
    on_cpu = str(device).startswith("cpu")
    if on_cpu and dtype == "float16":
        raise GenlabError("--dtype float16 is emulated on CPUs (slower than float32); use --dtype bfloat16 on a CPU "
                          "that has AVX-512 BF16 or AMX, or float16 on a GPU")
    if on_cpu and not cpu_has_native_bfloat16():
        raise GenlabError("--dtype bfloat16: this CPU has no native bfloat16 (AVX-512 BF16 or AMX), so it would "
                          "decode slower than float32; drop --dtype (or try --quantize int8)")
    return model.to(DTYPES[dtype]).eval()
