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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from genlab.checkpoint import load_tensors, read_json, torch_load, write_json
from genlab.errors import GenlabError
from genlab.export.gpt2_weights import from_hf
from genlab.tokenizers import EOS_ID, SPECIAL_TOKENS
from genlab.tokenizers.bpe import BPETokenizer

ENDOFTEXT = "<|endoftext|>"
#: the score the new special tokens get, whatever the input
DEAD_LOGIT = -1.0e4
#: HF activation names genlab's GPT implements
GELU = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh"}
#: fine-tuning defaults written as the run's training config (flags override them on --resume)
FINETUNE = {"batch_size": 8, "lr": 1e-4, "min_lr": 1e-5, "warmup_steps": 20, "lr_decay_steps": 1000,
            "max_steps": 200, "eval_interval": 50, "eval_batches": 10, "weight_decay": 0.0}


def import_hf(source: str | Path, out: str | Path) -> Path:
    """Turn the GPT-2 folder ``source`` into the genlab run ``out``; returns the run directory."""
    source = Path(source)
    if not source.is_dir():
        raise GenlabError(f"{source} is not a folder: give the folder save_pretrained wrote "
                          "(config.json, model.safetensors or pytorch_model.bin, tokenizer files)")
    hf_config = read_json(source / "config.json")
    model_config = gpt_config(hf_config, source)
    tokenizer, order = gpt2_tokenizer(source, model_config["vocab_size"] - len(SPECIAL_TOKENS) + 1)
    tied = bool(hf_config.get("tie_word_embeddings", True))
    model_config["tie_weights"] = tied
    tensors = from_hf(_read_weights(source), model_config["n_layer"], tied=tied)
    state = _permute(tensors, order, tied)
    from genlab.models.gpt import build

    model = build(model_config)
    model.load_state_dict(state, strict=True)
    _check_dead_rows(model)
    return _write_run(Path(out), source, model, model_config, tokenizer, hf_config)


def gpt_config(hf: Any, source: Path) -> dict[str, Any]:
    """genlab's GPT config for an HF ``GPT2Config``; anything genlab's GPT does not compute is refused."""
    if not isinstance(hf, dict) or hf.get("model_type") != "gpt2":
        raise GenlabError(f"{source}/config.json is not a GPT-2 config (model_type {hf.get('model_type')!r} "
                          "where 'gpt2' was expected)" if isinstance(hf, dict) else
                          f"{source}/config.json is not a JSON object")
    try:
        n_embd, n_layer, n_head = int(hf["n_embd"]), int(hf["n_layer"]), int(hf["n_head"])
        block, vocab = int(hf.get("n_positions") or hf["n_ctx"]), int(hf["vocab_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GenlabError(f"{source}/config.json lacks a usable GPT-2 field ({exc})") from None
    act = hf.get("activation_function", "gelu_new")
    checks = [
        (act in GELU, f"activation_function {act!r} (genlab computes {', '.join(GELU)})"),
        (hf.get("n_inner") in (None, 4 * n_embd), f"n_inner {hf.get('n_inner')} (genlab's MLP is 4 × n_embd)"),
        (abs(float(hf.get("layer_norm_epsilon", 1e-5)) - 1e-5) < 1e-12, "a layer_norm_epsilon other than 1e-5"),
        (hf.get("scale_attn_weights", True), "scale_attn_weights false"),
        (not hf.get("scale_attn_by_inverse_layer_idx", False), "scale_attn_by_inverse_layer_idx"),
        (n_embd % n_head == 0, f"n_embd {n_embd} not divisible by n_head {n_head}"),
    ]
    for ok, what in checks:
        if not ok:
            raise GenlabError(f"{source}/config.json asks for {what}; genlab's GPT cannot reproduce that model")
    return {"family": "gpt", "vocab_size": vocab + len(SPECIAL_TOKENS) - 1, "block_size": block, "n_layer": n_layer,
            "n_head": n_head, "n_embd": n_embd, "dropout": 0.0, "bias": True, "tie_weights": True,
            "activation": GELU[act]}


def gpt2_tokenizer(source: Path, gpt2_vocab: int) -> tuple[BPETokenizer, list[int]]:
    """GPT-2's byte-level BPE as a genlab tokenizer, and ``order``: genlab id → GPT-2 id (−1: new token)."""
    vocab, merges = _read_bpe(source)
    if len(vocab) != gpt2_vocab:
        raise GenlabError(f"{source}: the tokenizer has {len(vocab)} tokens but the model {gpt2_vocab}; "
                          "they are not the same checkpoint")
    if ENDOFTEXT not in vocab:
        raise GenlabError(f"{source}: the tokenizer has no {ENDOFTEXT} token; genlab maps its <eos> to it")
    by_id = sorted(vocab, key=vocab.get)
    if [vocab[t] for t in by_id] != list(range(len(by_id))):
        raise GenlabError(f"{source}: the tokenizer's ids are not 0…{len(by_id) - 1}; the file is damaged")
    eot, specials = vocab[ENDOFTEXT], len(SPECIAL_TOKENS)
    order = [-1] * (len(by_id) + specials - 1)  # genlab id → GPT-2 id; -1: <pad> <unk> <bos>
    order[EOS_ID] = eot
    for i in range(specials, len(by_id)):  # every other GPT-2 id stays where it is…
        if i != eot:
            order[i] = i
    moved = [i for i in range(specials) if i != eot]  # …except the ones genlab's specials occupy
    free = [j for j in range(specials, len(order)) if order[j] == -1]
    for j, i in zip(free, moved):
        order[j] = i
    if sorted(i for i in order if i >= 0) != list(range(len(by_id))):
        raise GenlabError(f"{source}: could not map GPT-2's ids onto genlab's (internal error)")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    genlab_vocab = {name: i for i, name in enumerate(SPECIAL_TOKENS)}
    genlab_vocab.update({by_id[g]: j for j, g in enumerate(order) if g >= 0 and g != eot})
    hf = Tokenizer(models.BPE(genlab_vocab, merges))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf.decoder = decoders.ByteLevel()
    hf.add_special_tokens(list(SPECIAL_TOKENS))
    try:
        return BPETokenizer(hf.to_str()), order
    except (KeyError, ValueError) as exc:
        raise GenlabError(f"{source}: the tokenizer is not GPT-2's byte-level BPE ({exc!r})") from None


def _read_bpe(source: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """GPT-2's vocabulary and merges from ``tokenizer.json``, else ``vocab.json`` + ``merges.txt``."""
    if (source / "tokenizer.json").is_file():
        data = read_json(source / "tokenizer.json")
        model = data.get("model") if isinstance(data, dict) else None
        if not isinstance(model, dict) or model.get("type") != "BPE":
            raise GenlabError(f"{source}/tokenizer.json is not a BPE tokenizer (GPT-2's is byte-level BPE)")
        vocab = dict(model["vocab"])
        for added in data.get("added_tokens") or []:
            vocab.setdefault(added["content"], int(added["id"]))
        merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges") or []]
        return vocab, merges
    if not (source / "vocab.json").is_file() or not (source / "merges.txt").is_file():
        raise GenlabError(f"{source} has no tokenizer: it needs tokenizer.json, or vocab.json and merges.txt")
    vocab = read_json(source / "vocab.json")
    try:
        lines = (source / "merges.txt").read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise GenlabError(f"{source}/merges.txt is not UTF-8 text ({exc})") from None
    merges = [tuple(line.split(" ", 1)) for line in lines if line and not line.startswith("#version")]
    if not isinstance(vocab, dict) or any(len(m) != 2 for m in merges):
        raise GenlabError(f"{source}: vocab.json / merges.txt are damaged")
    return vocab, merges


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
               tokenizer: BPETokenizer, hf_config: dict[str, Any]) -> Path:
    from dataclasses import asdict

    import numpy as np

    from genlab.training.config import TrainConfig
    from genlab.training.optim import build_optimizer
    from genlab.training.state import Progress, save_checkpoint

    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out {out} is a file; give a folder for the run")
    if (out / "config.json").is_file():
        raise GenlabError(f"--out {out} already holds a genlab run; choose a new folder")
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
                          "token_ids": "GPT-2's, except <|endoftext|> = <eos> (3) and ! \" # $ moved to the end"},
        "runtime": {"device": "cpu", "parameters": sum(p.numel() for p in model.parameters())},
    })
    return out
