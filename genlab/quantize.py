"""Int8 weights for faster decoding on CPUs: ``genlab generate/serve --quantize int8``.

Decoding one sequence is bound by memory, not arithmetic: every new token reads every weight
matrix once (42.5 MB for a 6-layer, 384-wide GPT in float32), so storing the weights in 8 bits reads
a quarter of the bytes. This uses PyTorch's own dynamic quantization (fbgemm on x86, qnnpack on
ARM): each ``nn.Linear`` (and fused ``nn.LSTM``/``nn.GRU``) gets int8 weights with one scale per
output channel, and its input is quantized on the fly per call. Embeddings, LayerNorms and the KV
cache stay float32. On the 2-core test machine, for that GPT, it decodes faster than float32 while
validation perplexity moves by well under 1 % (``benchmarks/generate_speed.py`` measures both).

PyTorch's int8 kernels for this exist on CPUs only; a model on a GPU is refused with a clear
message (decode in float32/float16 there, where bandwidth is plentiful).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from genlab.errors import GenlabError

#: module types replaced by int8 versions (everything else is left in float32)
QUANTIZABLE = (nn.Linear, nn.LSTM, nn.GRU)


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose weight matrices are int8 (per output channel), ready to decode on CPU."""
    if not isinstance(model, nn.Module):
        raise GenlabError(f"--quantize int8 is for neural models; a {type(model).__name__} has no weight "
                          "matrices to quantize (drop --quantize)")
    kinds = {type(m) for m in model.modules() if isinstance(m, QUANTIZABLE)}
    if not kinds:
        raise GenlabError(f"--quantize int8: {type(model).__name__} has no linear or LSTM/GRU layers to quantize "
                          "(drop --quantize)")
    devices = {p.device.type for p in model.parameters()}
    if devices - {"cpu"}:
        raise GenlabError(f"--quantize int8 uses PyTorch's CPU int8 kernels, but the model is on "
                          f"{'/'.join(sorted(devices))}; use --device cpu, or drop --quantize on a GPU")
    _choose_engine()
    try:  # announced for removal (its successor is the torchao package), still shipped by torch 2.13
        from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig, quantize_dynamic
    except ImportError as e:
        raise GenlabError(f"--quantize int8 needs torch.ao.quantization's dynamic int8, which PyTorch "
                          f"{torch.__version__} no longer has ({e}); install torch 2.13 (pip install "
                          "torch==2.13.0) or drop --quantize") from None

    spec = {kind: per_channel_dynamic_qconfig for kind in kinds if kind is nn.Linear}
    spec.update({kind: default_dynamic_qconfig for kind in kinds if kind is not nn.Linear})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        quantized = quantize_dynamic(model.eval(), spec, dtype=torch.qint8, inplace=False)
    quantized.quantized = "int8"
    return quantized.eval()


def _choose_engine() -> None:
    """fbgemm on x86, qnnpack on ARM: whichever int8 backend this build of PyTorch has."""
    engines = torch.backends.quantized.supported_engines
    for engine in ("x86", "fbgemm", "qnnpack"):
        if engine in engines:
            torch.backends.quantized.engine = engine
            return
    raise GenlabError("this PyTorch build has no int8 CPU backend (fbgemm/qnnpack); drop --quantize")
