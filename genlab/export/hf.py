"""``genlab export RUN --format hf``: a folder ``transformers`` loads as ``GPT2LMHeadModel`` + tokenizer.

The folder is what ``save_pretrained`` writes: ``config.json`` (GPT-2's fields: exact GELU is
``activation_function: "gelu"``, LayerNorm eps 1e-5 as genlab's), ``model.safetensors`` (GPT-2 names,
Conv1D weights transposed, the tied head stored once), ``tokenizer.json`` + ``tokenizer_config.json``
(``hf_tokenizer``), and ``generation_config.json``. So vLLM, TGI and ``transformers`` serve it as any
GPT-2, and ``convert_hf_to_gguf.py`` converts it too. ``config.json`` also carries ``genlab_export: 1``:
only a folder so marked may be overwritten by a later export (``destination``), and ``import-hf`` reads
the folder back with genlab's own token ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genlab.checkpoint import save_tensors, write_json
from genlab.errors import GenlabError
from genlab.export.destination import HF_MARK, hf_folder
from genlab.export.gpt2_weights import to_hf
from genlab.export.hf_tokenizer import hf_tokenizer_json, special_tokens, tokenizer_config
from genlab.tokenizers import EOS_ID, PAD_ID

#: genlab's GELU names → HF's ``activation_function``
HF_ACTIVATION = {"gelu": "gelu", "gelu_tanh": "gelu_new"}
#: GPT-2's LayerNorm epsilon, which is also PyTorch's default that genlab's GPT uses
LAYER_NORM_EPS = 1e-5


def load_gpt_run(run: str | Path, what: str) -> tuple[Any, Any, dict]:
    """A run's GPT, tokenizer and config; other families are refused, naming what is supported."""
    from genlab.models import load_model
    from genlab.models.registry import run_kind

    model, tokenizer, config = load_model(run, device="cpu")
    family = (config.get("model") or {}).get("family")
    if family != "gpt":
        raise GenlabError(f"{what} supports only GPT runs in GPT-2's layout (--model gpt, and runs tuned from one), "
                          f"but {run} holds {run_kind(config)}: transformers, vLLM, TGI and llama.cpp have no "
                          "architecture for it; export a gpt run")
    modern = model.config.non_gpt2_options()
    if modern:
        raise GenlabError(f"{what} writes GPT-2's architecture, but {run} was trained with {', '.join(modern)}, "
                          "which GPT-2 has no place for; export a run trained as plain --model gpt")
    return model, tokenizer, config


def gpt2_config(model_config: dict[str, Any], tied: bool) -> dict[str, Any]:
    """HF ``GPT2Config`` fields for a genlab GPT config."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": int(model_config["vocab_size"]),
        "n_positions": int(model_config["block_size"]),
        "n_ctx": int(model_config["block_size"]),
        "n_embd": int(model_config["n_embd"]),
        "n_layer": int(model_config["n_layer"]),
        "n_head": int(model_config["n_head"]),
        "n_inner": None,  # 4 × n_embd, as genlab's MLP
        # exact GELU (nn.GELU()) is HF's "gelu"; GPT-2's own tanh approximation is "gelu_new"
        "activation_function": HF_ACTIVATION[model_config.get("activation", "gelu")],
        "resid_pdrop": 0.0,
        "embd_pdrop": 0.0,
        "attn_pdrop": 0.0,
        "layer_norm_epsilon": LAYER_NORM_EPS,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "tie_word_embeddings": tied,
        "bos_token_id": EOS_ID,  # a document starts after <eos>, as GPT-2's after <|endoftext|>
        "eos_token_id": EOS_ID,
        "pad_token_id": PAD_ID,
        "use_cache": True,
        "torch_dtype": "float32",
    }


def export_hf(run: str | Path, out: str | Path) -> Path:
    """Write the run's GPT as a Hugging Face folder at ``out``; returns it."""
    model, tokenizer, config = load_gpt_run(run, "--format hf")
    out = hf_folder(run, out)
    model_config = config["model"]
    tied = bool(model_config.get("tie_weights", True))
    specials = special_tokens(tokenizer)
    save_tensors(out / "model.safetensors", to_hf(model), metadata={"format": "pt"})
    # the mark lets a later export replace this folder, and nothing else (destination.py)
    write_json(out / "config.json", {**gpt2_config(model_config, tied), HF_MARK: 1})
    write_json(out / "generation_config.json", {"bos_token_id": EOS_ID, "eos_token_id": EOS_ID,
                                                "pad_token_id": PAD_ID})
    write_json(out / "tokenizer.json", hf_tokenizer_json(tokenizer))
    tok_config = tokenizer_config(specials, int(model_config["block_size"]))
    write_json(out / "tokenizer_config.json", tok_config)
    write_json(out / "special_tokens_map.json", {k: v for k, v in tok_config.items() if k.endswith("_token")
                                                 or k == "additional_special_tokens"})
    return out
