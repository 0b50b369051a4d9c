"""``genlab export RUN --format gguf``: one GGUF file that llama.cpp (and so Ollama) runs as a ``gpt2`` model.

Written with the ``gguf`` package the way llama.cpp's ``convert_hf_to_gguf.py`` writes a GPT-2:
architecture ``gpt2``; ``gpt2.context_length`` / ``embedding_length`` / ``feed_forward_length`` /
``block_count`` / ``attention.head_count`` / ``attention.layer_norm_epsilon``; tensors
``token_embd``, ``position_embd``, ``blk.N.{attn_norm, attn_qkv, attn_output, ffn_norm, ffn_up,
ffn_down}`` (weights and biases, ``nn.Linear``'s ``(out, in)`` layout), ``output_norm`` and ``output``
(the tied head written out, as the converter does), all float32; and the tokenizer: model ``gpt2``
(byte-level BPE), pre-tokenizer ``gpt-2``, the tokens in genlab's id order with their types (the
special tokens are ``CONTROL``), the merges, and genlab's special ids. ``<eos>`` is also the BOS
token and ``add_bos_token`` is on, so llama.cpp starts every prompt with ``<eos>`` exactly as genlab
does (a prompt starts a document).

llama.cpp tokenizes text with byte-level BPE only among genlab's kinds, so char/word/jamo runs are
refused here (export them with ``--format hf``). llama.cpp's ``gpt2`` graph computes GELU with the tanh
approximation: a run trained with genlab's exact GELU differs there by at most 5e-4 per activation
(measured on a small trained run: logits within 4e-5 of genlab's, the same greedy tokens).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from genlab.checkpoint import atomic_write
from genlab.errors import GenlabError
from genlab.export.destination import GGUF_MARK, gguf_file
from genlab.export.hf import LAYER_NORM_EPS, load_gpt_run
from genlab.export.hf_tokenizer import special_tokens
from genlab.tokenizers import EOS_ID, PAD_ID, UNK_ID

ARCH = "gpt2"
#: genlab module path → llama.cpp tensor name, per block
BLOCK_TENSORS = {
    "ln_1": "attn_norm",
    "attn.c_attn": "attn_qkv",
    "attn.c_proj": "attn_output",
    "ln_2": "ffn_norm",
    "mlp.c_fc": "ffn_up",
    "mlp.c_proj": "ffn_down",
}
#: llama.cpp's token types
NORMAL, CONTROL = 1, 3


def gguf_tensors(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """The model's tensors under llama.cpp's GPT-2 names (zero biases where genlab's GPT has none)."""
    out: dict[str, np.ndarray] = {}

    def put(name: str, module: torch.nn.Module) -> None:
        weight = getattr(module, "weight", None)
        if not isinstance(weight, torch.Tensor):
            raise GenlabError("export needs the float weights; export the run, not a quantized copy")
        out[f"{name}.weight"] = weight.detach().float().cpu().numpy().copy()
        bias = getattr(module, "bias", None)
        if bias is None and not isinstance(module, torch.nn.Embedding):
            bias = torch.zeros(weight.shape[0])
        if bias is not None:
            out[f"{name}.bias"] = bias.detach().float().cpu().numpy().copy()

    t = model.transformer
    put("token_embd", t.wte)
    put("position_embd", t.wpe)
    for i, block in enumerate(t.h):
        for path, name in BLOCK_TENSORS.items():
            put(f"blk.{i}.{name}", block.get_submodule(path))
    put("output_norm", t.ln_f)
    out["output.weight"] = model.lm_head.weight.detach().float().cpu().numpy().copy()
    return out


def export_gguf(run: str | Path, out: str | Path) -> Path:
    """Write the run's GPT and tokenizer as one GGUF file at ``out``; returns it."""
    import gguf

    model, tokenizer, config = load_gpt_run(run, "--format gguf")
    if tokenizer.kind != "bpe":
        raise GenlabError(f"--format gguf needs a byte-level BPE run (llama.cpp tokenizes text with BPE); {run} "
                          f"uses the {tokenizer.kind} tokenizer: prepare it with --tokenizer bpe, or use --format hf")
    out = gguf_file(run, out)
    model_config = config["model"]
    tokens, types, merges = _vocabulary(tokenizer, int(model_config["vocab_size"]))
    tensors = gguf_tensors(model)

    def write(tmp: Path) -> None:
        writer = gguf.GGUFWriter(str(tmp), ARCH)
        writer.add_name(Path(run).resolve().name)
        writer.add_context_length(int(model_config["block_size"]))
        writer.add_embedding_length(int(model_config["n_embd"]))
        writer.add_feed_forward_length(4 * int(model_config["n_embd"]))
        writer.add_block_count(int(model_config["n_layer"]))
        writer.add_head_count(int(model_config["n_head"]))
        writer.add_layer_norm_eps(LAYER_NORM_EPS)
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre("gpt-2")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        writer.add_token_merges(merges)
        writer.add_bos_token_id(EOS_ID)  # a document starts after <eos>
        writer.add_eos_token_id(EOS_ID)
        writer.add_unk_token_id(UNK_ID)
        writer.add_pad_token_id(PAD_ID)
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
        writer.add_uint32(GGUF_MARK, 1)  # a later export may replace this file, and no other (destination.py)
        for name, array in tensors.items():
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    atomic_write(out, write)
    return out


def gguf_context(path: str | Path) -> int:
    """The context length (tokens) a GGUF file written here declares: llama.cpp's window for it."""
    import gguf

    field = gguf.GGUFReader(str(path)).fields[f"{ARCH}.context_length"]
    return int(field.parts[field.data[0]][0])


def _vocabulary(tokenizer, vocab_size: int) -> tuple[list[str], list[int], list[str]]:
    """Token strings by id (byte-level form), their llama.cpp types, and the merges as ``"a b"`` strings."""
    data = json.loads(tokenizer.hf_json)
    vocab: dict[str, int] = data["model"]["vocab"]
    tokens = [""] * vocab_size
    for token, i in vocab.items():
        if i < vocab_size:
            tokens[i] = token
    types = [NORMAL] * vocab_size
    for i, name in special_tokens(tokenizer):
        if i < vocab_size:
            tokens[i], types[i] = name, CONTROL
    for i, token in enumerate(tokens):
        if not token:  # the model has more rows than the tokenizer has tokens
            tokens[i], types[i] = f"[PAD{i}]", CONTROL
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"].get("merges") or []]
    return tokens, types, merges
