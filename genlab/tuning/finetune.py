"""``genlab finetune BASE_RUN --data FILE.jsonl|builtin:skills --out RUN``: a pretrained run → a chat run.

Transfer learning in the course's sense: the new run starts from the base run's weights. The steps,
in order: read and validate the chat data; split off validation conversations; grow the base
tokenizer by the chat template's tokens and any symbols the data has that it lacks (char, word, jamo;
byte-level BPE lacks none) and grow the model's embedding and head to match; render every
conversation with its loss mask; then train with the one loop (:mod:`genlab.training.loop`) — the
same checkpoints, resume, metrics, plot and progress bar as ``genlab train``.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from genlab.checkpoint import read_config, run_dir
from genlab.errors import GenlabError
from genlab.tokenizers import Tokenizer
from genlab.tokenizers.base import TEMPLATE_TOKENS
from genlab.training.config import resolve
from genlab.training.loop import FitResult, fit
from genlab.training.state import require_checkpoint
from genlab.training.task import BEST_WEIGHTS, LATEST_WEIGHTS, TRAIN_STATE
from genlab.tuning.chat_data import BUILTIN_PREFIX, Conversation, load_chat_data
from genlab.tuning.preference_cli import run_seed
from genlab.tuning.sft import EncodedSplit, SFTTask, encode_split, fingerprint, split_conversations
from genlab.tuning.template import FORMAT, ChatTemplate

FAMILIES = ("gpt", "rnn", "lstm", "gru")
#: training defaults for fine-tuning: a gentler learning rate than pretraining, frequent evaluation, and
#: float32, so that a seed gives the same numbers on a machine (``--dtype auto`` picks by timing). Ask for
#: bfloat16 where the CPU has it: on builtin:skills from a 4×128 char GPT base it followed float32's
#: validation loss step for step (0.1632/0.1111/0.0755 against 0.1628/0.1121/0.0759 at steps
#: 1000/1200/1400; AMD EPYC with AVX-512 BF16) at 1.13× (one thread) to 1.3× (two) the steps per second.
#: An earlier single pair of runs had blamed bfloat16 for arithmetic that did not take off; float32 runs
#: with other seeds stall the same way.
SFT_DEFAULTS: dict[str, Any] = {"batch_size": 32, "lr": 1e-3, "min_lr": 1e-4, "warmup_steps": 50, "max_steps": 1000,
                                "lr_decay_steps": 1000, "eval_interval": 200, "eval_batches": 10, "weight_decay": 0.0}
#: LoRA trains far fewer weights, each needing a larger step (a common choice for adapters)
LORA_LR = 3e-3
#: a base pretrained with Muon is fine-tuned with Muon (at its pretraining rate): on builtin:skills from a
#: gpt-tiny-fast base, validation loss at step 400 was 0.20 against AdamW at 1e-3's 0.31
MUON_LR = 3e-3


#: tokens per batch that the default batch size aims at: 32 rows of a 128-token context
BATCH_TOKENS = 4096


def sft_defaults(base_config: dict[str, Any], lora: bool, context: int = 128) -> dict[str, Any]:
    """Fine-tuning's training defaults for this base: its optimizer, at a fine-tuning learning rate.

    The batch keeps about :data:`BATCH_TOKENS` tokens whatever the context (up to 32 rows): a longer
    context that only holds whole conversations should not also halve the number of steps.
    """
    defaults = dict(SFT_DEFAULTS, batch_size=min(SFT_DEFAULTS["batch_size"], max(4, BATCH_TOKENS // context)))
    if lora:
        defaults.update(lr=LORA_LR, min_lr=LORA_LR / 10)
    elif (base_config.get("train") or {}).get("optimizer") == "muon":
        defaults.update(optimizer="muon", lr=MUON_LR, min_lr=MUON_LR / 10)
    return defaults


def base_run(path: Path) -> tuple[dict[str, Any], Tokenizer]:
    """The base run's config and tokenizer, after checking it is a neural language model."""
    from genlab.tokenizers import load as load_tokenizer

    if not (path / "config.json").is_file():
        raise GenlabError(f"{path} has no trained model (config.json missing); train it first "
                          f"(`genlab train {path} --model gpt`)")
    config = read_config(path)
    family = (config.get("model") or {}).get("family")
    if family not in FAMILIES:
        raise GenlabError(f"{path} holds a {family} model; fine-tuning needs a neural language model "
                          f"({', '.join(FAMILIES)})")
    return config, load_tokenizer(path / "tokenizer.json")


def grown_tokenizer(base: Tokenizer, conversations: list[Conversation]) -> tuple[Tokenizer, list[str]]:
    """The base tokenizer plus the template's tokens and the data's unknown symbols (which are returned too)."""
    texts = (text for conv in conversations for text in conv.texts())
    missing = base.missing_symbols(texts)
    return base.extended(missing, TEMPLATE_TOKENS), missing


def model_builder(base: Path, base_config: dict[str, Any], old_tokens: list[str], new_tokens: list[str],
                  lora_rank: int | None, lora_alpha: float | None, init: str = "base"):
    """``model_config → model``: the base weights, grown to the new vocabulary, with LoRA adapters if asked.

    ``init="random"`` builds the same architecture with fresh random weights instead: fine-tuning from
    scratch, the baseline that shows what pretraining is worth.
    """
    def build(model_config: dict[str, Any]):
        from genlab.models import load_model
        from genlab.models.resize import grown_model

        family = model_config["family"]
        if family == "gpt":
            from genlab.models.gpt import build as build_family
        else:
            from genlab.models.rnn import build as build_family
        if init == "random":
            model = build_family(model_config)
        else:
            model, _, _ = load_model(base, device="cpu", which="best")
            model, _ = grown_model(model, base_config["model"], old_tokens, new_tokens, build_family)
            if family == "gpt" and model.block_size != model_config["block_size"]:  # rotary: a longer context
                longer = build_family(model_config)
                longer.load_state_dict(model.state_dict())  # the same weights: rotary angles are not saved
                model = longer
        model.train()
        if lora_rank:
            from genlab.tuning.lora import apply_lora

            apply_lora(model, lora_rank, lora_alpha)
        return model

    return build


#: the longest context fine-tuning picks by itself for a base whose context can grow
CONTEXT_CAP = 1024


def context_can_grow(model_config: dict[str, Any]) -> bool:
    """Whether a longer context than pretraining's costs no new weights: rotary positions and RNNs."""
    return model_config["family"] != "gpt" or model_config.get("positions", "learned") == "rope"


def _context(base_config: dict[str, Any], requested: int | None, longest: int) -> int:
    """The fine-tuning context: ``--block-size``, else the base's, grown (where it can) to fit every conversation.

    A conversation longer than the context loses its start — for a tool call, the question the call
    must copy its arguments from — and decoding past the context slides it, so the answer loses sight
    of the question too. A base with rotary positions or an RNN can simply take a longer context: the
    smallest power of two that holds the longest conversation (``longest`` ids, ``<eos>`` included),
    at most :data:`CONTEXT_CAP`.
    """
    model = base_config["model"]
    block = int(model["block_size"])
    if requested is not None:
        if requested > block and not context_can_grow(model):
            raise GenlabError(f"--block-size {requested} exceeds the base GPT's {block} learned positions")
        return requested
    if not context_can_grow(model):
        return block
    fit = 1 << max(longest - 2, 0).bit_length()  # a row holds block + 1 ids
    return max(block, min(fit, CONTEXT_CAP))


def _too_long(split: EncodedSplit, block: int) -> int:
    lengths = split.starts[1:] - split.starts[:-1]
    return int((lengths > block + 1).sum())


def finetune_cli(args: argparse.Namespace) -> int:
    base = run_dir(args.base)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out {out} is a file; pass a directory for the new run")
    if out.resolve() == base.resolve():
        raise GenlabError("--out must be a new directory: fine-tuning never overwrites its base run")
    base_config, base_tok = base_run(base)
    family = base_config["model"]["family"]
    if args.lora_rank and family != "gpt":
        raise GenlabError(f"--lora-rank adapts a GPT's attention and MLP layers; {base} holds a {family} model "
                          "(fine-tune it without --lora-rank)")
    seed = run_seed(args, out)
    conversations = load_chat_data(args.data, skip_bad_lines=args.skip_bad_lines, seed=seed)
    train_c, val_c = split_conversations(conversations, args.val_fraction, seed)
    tokenizer, missing = grown_tokenizer(base_tok, conversations)
    template = ChatTemplate(tokenizer)
    train_e, val_e = encode_split(template, train_c), encode_split(template, val_c)
    data_id = fingerprint(train_e, val_e)
    longest = int(max(np.diff(train_e.starts).max(initial=0), np.diff(val_e.starts).max(initial=0)))
    block = _context(base_config, args.block_size, longest)
    model_config = {**base_config["model"], "vocab_size": tokenizer.vocab_size}
    if context_can_grow(model_config):  # a learned-position GPT keeps its table (and may train shorter)
        model_config["block_size"] = max(block, int(base_config["model"]["block_size"])) if family == "gpt" else block

    if args.resume:
        require_checkpoint(out)
        saved = read_config(out)
        if (saved.get("finetune") or {}).get("data_fingerprint") != data_id:
            raise GenlabError(f"the chat data or the base run changed since {out} was started; resume with the same "
                              "--data and base, or start a new run")
        cfg = resolve(args, saved.get("train"))
    else:
        if (out / TRAIN_STATE).is_file() and not args.overwrite:
            raise GenlabError(f"{out} already holds a trained model: continue it with --resume, or pass --overwrite "
                              "to start over (its weights will be replaced)")
        cfg = resolve(args, dict(sft_defaults(base_config, bool(args.lora_rank), block), seed=seed),
                      decay_follows_stop=True)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GenlabError(f"cannot create {out}: {exc.strerror or exc}") from exc
        tokenizer.save(out / "tokenizer.json")

    info = {
        "chat_template": FORMAT,
        "init_from": {"run": str(base), "family": family, "tokenizer_fingerprint": base_tok.fingerprint(),
                      "weights": "random (--init random)" if args.init == "random" else "base"},
        "finetune": {"data": args.data, "train_conversations": len(train_c), "val_conversations": len(val_c),
                     "train_target_tokens": train_e.target_tokens, "data_fingerprint": data_id,
                     "new_symbols": len(missing), "context": block,
                     "lora": {"rank": args.lora_rank, "alpha": args.lora_alpha or 2 * args.lora_rank}
                     if args.lora_rank else None},
    }
    build = model_builder(base, base_config, base_tok.token_strings(), tokenizer.token_strings(), args.lora_rank,
                          args.lora_alpha, args.init)
    task = SFTTask(family, tokenizer, train_e, val_e, block, build, val_c, info)
    _describe(base, base_tok, tokenizer, missing, train_c, val_c, train_e, val_e, block, args)
    result = fit(task, cfg, out, model_config, resume=args.resume, progress=not args.quiet)
    _report(result, out, args.data)
    return 0


def _describe(base: Path, base_tok: Tokenizer, tokenizer: Tokenizer, missing: list[str], train_c: list,
              val_c: list, train_e: EncodedSplit, val_e: EncodedSplit, block: int, args: argparse.Namespace) -> None:
    grown = tokenizer.vocab_size - base_tok.vocab_size
    shown = ("".join(map(_visible, missing[:12])) if base_tok.kind in ("char", "jamo")
             else " ".join(map(repr, missing[:6])))
    print(f"fine-tuning {base} on {args.data}: {len(train_c):,} conversations ({train_e.target_tokens:,} target "
          f"tokens), {len(val_c):,} held out for validation")
    print(f"vocabulary {base_tok.vocab_size:,} → {tokenizer.vocab_size:,} (+{grown}: {len(TEMPLATE_TOKENS)} chat tokens"
          + (f", {len(missing)} new symbols: {shown}{' …' if len(missing) > 12 else ''}" if missing else "") + ")")
    cut = _too_long(train_e, block) + _too_long(val_e, block)
    if cut:
        print(f"note: {cut:,} conversation(s) are longer than the context ({block} tokens); training keeps their end")
    if args.lora_rank:
        print(f"LoRA rank {args.lora_rank}: only the adapters train; the saved weights are merged")


def _visible(symbol: str) -> str:
    """A symbol as a person can read it on one line: a newline or a space shows as ``\\n`` or ``\\x20``."""
    if symbol.isprintable() and not symbol.isspace():
        return symbol
    return "".join(f"\\x{ord(c):02x}" if c == " " else c.encode("unicode_escape").decode("ascii") for c in symbol)


def _report(result: FitResult, out: Path, data: str) -> None:
    r = result
    runtime = read_config(out).get("runtime", {})
    total, trained = runtime.get("parameters", 0), runtime.get("trainable_parameters", 0)
    print(f"fine-tuned: {r.steps:,} steps, {r.tokens:,} target tokens in {r.elapsed:.1f} s ({r.stopped}); "
          f"{trained:,} of {total:,} parameters trained ({100 * trained / max(total, 1):.1f} %)")
    if r.interrupted:
        print(f"saved the latest checkpoint to {out / LATEST_WEIGHTS}; continue with the same command and --resume")
        return
    if math.isfinite(r.last_val_loss):
        print(f"val loss on assistant tokens {r.last_val_loss:.4f} (best {r.best_val_loss:.4f} at step {r.best_step})")
    check = "builtin:skills" if data.startswith(BUILTIN_PREFIX) else data
    print(f"weights: {out / BEST_WEIGHTS} (best), {out / LATEST_WEIGHTS} (latest); next: genlab chat {out} · "
          f"genlab eval {out} --data {check} · genlab serve {out}")
