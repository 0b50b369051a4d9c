"""``genlab import-hf DIR --out RUN``: a local GPT-2 checkpoint becomes a genlab run.

The folder is what ``GPT2LMHeadModel.save_pretrained`` and ``tokenizer.save_pretrained`` write:
``config.json``; ``model.safetensors`` (or its shards with ``model.safetensors.index.json``), or
``pytorch_model.bin`` read with ``torch.load(weights_only=True)`` (no pickle code runs); and the
byte-level BPE tokenizer as ``tokenizer.json`` or ``vocab.json`` + ``merges.txt``. Nothing is
downloaded. The run then works with ``eval``, ``generate``, ``serve``, ``export`` and — after
``genlab prepare --corpus … --tokenizer-from RUN --out RUN`` — with ``genlab train RUN --model gpt
--resume`` (fine-tuning: the run holds a step-0 training state whose weights are GPT-2's).

Token ids. genlab keeps ``<pad> <unk> <bos> <eos>`` at ids 0–3 in every tokenizer, and every part of
genlab starts and ends documents with id 3. So the imported tokenizer keeps GPT-2's id for every
token except five: ``<|endoftext|>`` (GPT-2's document separator, 50256) *is* genlab's ``<eos>``, id 3,
and the four single-byte tokens GPT-2 had at ids 0–3 (``! " # $``) move to the end (50256–50259).
The weights are permuted the same way, so every logit of a GPT-2 token is exactly GPT-2's.
Three ids are new: ``<pad> <unk> <bos>``. GPT-2's head is tied to its embedding and has no bias, so
their rows are chosen to score a constant ≈ −10⁴ whatever the input: the final LayerNorm's output is
``γ ⊙ n + β`` with ``Σ n = 0``, so a row ``c / γ`` scores ``c · Σ β/γ`` for every input. Their
probability is then exactly 0 in float32 and GPT-2's log-probabilities are unchanged (tested).

A folder ``genlab export --format hf`` wrote already has genlab's ids (``<pad> <unk> <bos> <eos>`` at
0–3, no ``<|endoftext|>``): its tokenizer and weights are taken as they are, so a run exported and
imported again gives the run's own logits (``import_tokenizer``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genlab.checkpoint import load_tensors, read_json, torch_load, write_json
from genlab.errors import GenlabError
from genlab.export.destination import new_run_folder
from genlab.export.gpt2_weights import from_hf
from genlab.export.import_tokenizer import genlab_tokenizer, gpt2_tokenizer, has_genlab_specials, read_bpe
from genlab.tokenizers import EOS_ID, SPECIAL_TOKENS
from genlab.tokenizers.bpe import BPETokenizer

#: how an imported GPT-2's ids relate to GPT-2's (recorded in the run's config.json)
GPT2_IDS = "GPT-2's, except <|endoftext|> = <eos> (3) and ! \" # $ moved to the end"
#: the score the new special tokens get, whatever the input
DEAD_LOGIT = -1.0e4
#: HF activation names genlab's GPT implements
GELU = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}
#: fine-tuning defaults written as the run's training config (flags override them on --resume)
FINETUNE = {"batch_size": 8, "lr": 1e-4, "min_lr": 1e-5, "warmup_steps": 20, "lr_decay_steps": 1000,
            "max_steps": 200, "eval_interval": 50, "eval_batches": 10, "weight_decay": 0.0}


def import_hf(source: str | Path, out: str | Path) -> Path:
    """Turn the GPT-2 folder ``source`` into the genlab run ``out``; returns the run directory."""
    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise GenlabError(f"{source} is not a folder: give the folder save_pretrained wrote "
                          "(config.json, model.safetensors or pytorch_model.bin, tokenizer files)")
    if not (source / "config.json").is_file():
        raise GenlabError(f"{source} has no config.json: give a Hugging Face GPT-2 folder as save_pretrained "
                          "writes it (config.json, model.safetensors or pytorch_model.bin, tokenizer files)")
    new_run_folder(source, out)  # before the work, so a refusal costs nothing
    hf_config = read_json(source / "config.json")
    model_config = gpt_config(hf_config, source)
    tied = bool(hf_config.get("tie_word_embeddings", True))
    model_config["tie_weights"] = tied
    vocab, merges = read_bpe(source)
    tensors = from_hf(_read_weights(source), model_config["n_layer"], tied=tied)
    exported = has_genlab_specials(vocab)  # genlab wrote it: its ids and rows are genlab's already
    if exported:
        tokenizer = genlab_tokenizer(source, vocab, merges, model_config["vocab_size"])
        state, ids = tensors, "genlab's own (a folder genlab exported): unchanged"
    else:
        tokenizer, order = gpt2_tokenizer(source, vocab, merges, model_config["vocab_size"])
        model_config["vocab_size"] = len(order)
        state, ids = _permute(tensors, order, tied), GPT2_IDS
    from genlab.models.gpt import build

    model = build(model_config)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # a tensor's shape disagrees with config.json
        reason = str(exc).splitlines()[-1].strip()
        raise GenlabError(f"{source}: the weights do not fit config.json ({reason}); give the config.json "
                          "saved with these weights") from None
    if not exported:
        _check_dead_rows(model)
    return _write_run(out, source, model, model_config, tokenizer, hf_config, ids)


def gpt_config(hf: Any, source: Path) -> dict[str, Any]:
    """genlab's GPT config for an HF ``GPT2Config`` (``vocab_size``: the checkpoint's embedding rows).

    Sizes are checked first (a zero ``n_head`` used to end in a ZeroDivisionError); anything genlab's
    GPT does not compute is refused.
    """
    if isinstance(hf, dict) and isinstance(hf.get("model"), dict) and "family" in hf["model"]:
        raise GenlabError(f"{source} is already a genlab run: use it directly (import-hf reads a Hugging Face "
                          "GPT-2 folder)")
    if not isinstance(hf, dict) or hf.get("model_type") != "gpt2":
        raise GenlabError(f"{source}/config.json is not a GPT-2 config (model_type {hf.get('model_type')!r} "
                          "where 'gpt2' was expected)" if isinstance(hf, dict) else
                          f"{source}/config.json is not a JSON object")
    positions = "n_ctx" if hf.get("n_positions") is None and hf.get("n_ctx") is not None else "n_positions"
    n_embd, n_layer, n_head, block, vocab = (_size(hf, name, source)
                                             for name in ("n_embd", "n_layer", "n_head", positions, "vocab_size"))
    if n_embd % n_head:
        raise GenlabError(f"{source}/config.json has n_embd {n_embd}, which n_head {n_head} does not divide "
                          "(each head gets n_embd / n_head channels); fix that field or re-save the model with "
                          "save_pretrained")
    act = hf.get("activation_function", "gelu_new")
    try:
        eps = float(hf.get("layer_norm_epsilon", 1e-5))
    except (TypeError, ValueError):
        raise GenlabError(f"{source}/config.json has layer_norm_epsilon {hf.get('layer_norm_epsilon')!r}, "
                          "not a number; fix that field or re-save the model with save_pretrained") from None
    checks = [
        (act in GELU, f"activation_function {act!r} (genlab computes {', '.join(GELU)})"),
        (hf.get("n_inner") in (None, 4 * n_embd), f"n_inner {hf.get('n_inner')} (genlab's MLP is 4 × n_embd)"),
        (abs(eps - 1e-5) < 1e-12, "a layer_norm_epsilon other than 1e-5"),
        (hf.get("scale_attn_weights", True), "scale_attn_weights false"),
        (not hf.get("scale_attn_by_inverse_layer_idx", False), "scale_attn_by_inverse_layer_idx"),
    ]
    for ok, what in checks:
        if not ok:
            raise GenlabError(f"{source}/config.json asks for {what}; genlab's GPT cannot reproduce that model")
    return {"family": "gpt", "vocab_size": vocab, "block_size": block, "n_layer": n_layer,
            "n_head": n_head, "n_embd": n_embd, "dropout": 0.0, "bias": True, "tie_weights": True,
            "activation": GELU[act]}


def _size(hf: dict[str, Any], name: str, source: Path) -> int:
    """One of GPT-2's sizes: a whole number ≥ 1, or a one-line error naming the field."""
    value = hf.get(name)
    if value is None:
        raise GenlabError(f"{source}/config.json has no {name}; give the config.json saved with the weights")
    whole = isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    if not whole or value < 1:
        raise GenlabError(f"{source}/config.json has {name} {value!r}, but it must be a whole number ≥ 1; "
                          "fix that field or re-save the model with save_pretrained")
    return int(value)


def _read_weights(source: Path) -> dict[str, torch.Tensor]:
    single, index, pickle_file = (source / "model.safetensors", source / "model.safetensors.index.json",
                                  source / "pytorch_model.bin")
    if single.is_file():
        return load_tensors(single)
    if index.is_file():
        shards = sorted(set((read_json(index).get("weight_map") or {}).values()))
        tensors: dict[str, torch.Tensor] = {}
        for shard in shards:
            tensors.update(load_tensors(source / shard))
        return tensors
    if pickle_file.is_file():
        state = torch_load(pickle_file)  # weights_only=True: tensors only, no code
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise GenlabError(f"{pickle_file} is not a plain state dict of tensors")
        return state
    raise GenlabError(f"{source} has no weights (model.safetensors, its index, or pytorch_model.bin)")


def _permute(tensors: dict[str, torch.Tensor], order: list[int], tied: bool) -> dict[str, torch.Tensor]:
    """Embedding (and head) rows in genlab's id order; the new special tokens get constant-score rows."""
    gamma, beta = tensors["transformer.ln_f.weight"], tensors["transformer.ln_f.bias"]
    total = float((beta / gamma).sum()) if bool((gamma.abs() > 1e-8).all()) else 0.0
    if abs(total) < 1e-6:
        raise GenlabError("cannot give genlab's <pad>/<unk>/<bos> tokens zero probability in this checkpoint (its "
                          "final LayerNorm has a zero weight, or no bias): it looks untrained")
    dead = (DEAD_LOGIT / total) / gamma  # scores DEAD_LOGIT for every input (module docstring)
    index = torch.tensor([max(i, 0) for i in order])
    new = torch.tensor([i < 0 for i in order])

    def rows(matrix: torch.Tensor) -> torch.Tensor:
        out = matrix[index].clone()
        out[new] = dead
        return out

    state = dict(tensors)
    state["transformer.wte.weight"] = rows(tensors["transformer.wte.weight"])
    state["lm_head.weight"] = state["transformer.wte.weight"] if tied else rows(tensors["lm_head.weight"])
    return state


def _check_dead_rows(model: torch.nn.Module) -> None:
    """The new special tokens must score far below every real token, on any input."""
    generator = torch.Generator().manual_seed(0)
    probe = torch.randint(len(SPECIAL_TOKENS), model.vocab_size, (2, min(32, model.block_size)), generator=generator)
    with torch.no_grad():
        logits = model(probe)
    gap = logits.max(-1).values - logits[..., [i for i in range(len(SPECIAL_TOKENS)) if i != EOS_ID]].max(-1).values
    if not bool((gap > 100).all()):
        raise GenlabError("the imported model gives genlab's new special tokens a real probability; "
                          "this checkpoint cannot be imported exactly")


def _write_run(out: Path, source: Path, model: torch.nn.Module, model_config: dict[str, Any],
               tokenizer: BPETokenizer, hf_config: dict[str, Any], token_ids: str) -> Path:
    from dataclasses import asdict

    import numpy as np

    from genlab.training.config import TrainConfig
    from genlab.training.optim import build_optimizer
    from genlab.training.state import Progress, save_checkpoint

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenlabError(f"cannot create --out {out}: {exc.strerror or exc}") from None
    train = TrainConfig(**FINETUNE)
    tokenizer.save(out / "tokenizer.json")
    optimizer = build_optimizer(model, train.lr, train.weight_decay, (train.beta1, train.beta2), "cpu")
    save_checkpoint(out, model, optimizer, None, Progress(), np.random.default_rng(train.seed))
    write_json(out / "config.json", {
        "model": model_config,
        "train": asdict(train),
        "preset": None,
        "tokenizer_fingerprint": tokenizer.fingerprint(),
        "imported_from": {"path": str(source.resolve()), "format": "hf-gpt2",
                          "architectures": hf_config.get("architectures"),
                          "token_ids": token_ids},
        "runtime": {"device": "cpu", "parameters": sum(p.numel() for p in model.parameters())},
    })
    return out
