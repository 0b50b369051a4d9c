"""``genlab train RUN --model …``: flags → a task, a model config and a training config → the loop.

Which task trains the model (language-model windows or sentence pairs), which defaults apply (the
model's preset, or the encoder–decoder's own), the checks that keep ``--resume`` honest, and the
report printed at the end. The loop itself is :func:`genlab.training.loop.fit`.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from genlab.checkpoint import read_config, run_dir
from genlab.errors import GenlabError
from genlab.training.config import LR_SCALE_FIELDS, resolve
from genlab.training.distributed import from_environment
from genlab.training.loop import FitResult, fit
from genlab.training.state import require_checkpoint
from genlab.training.task import BEST_WEIGHTS, LATEST_WEIGHTS, TRAIN_STATE, TrainTask

SEQ2SEQ = ("rnn-attn", "transformer")
#: model-shaping flags that may not change on --resume (the weights would not fit)
SHAPE_FLAGS = ("n_layer", "n_head", "n_embd", "block_size", "dropout", "tie_weights", "positions", "qk_norm",
               "activation")


def make_task(args: argparse.Namespace, path: Path) -> TrainTask:
    init_from, augment = getattr(args, "init_from", None), getattr(args, "augment", None)
    from genlab.augment.text import refuse_orphan_flags

    refuse_orphan_flags(augment, getattr(args, "synonyms", None), getattr(args, "augment_copies", None))
    if args.model in SEQ2SEQ:
        if init_from or augment:
            raise GenlabError("--init-from and --augment are for language models (rnn, lstm, gru, gpt, bert)")
        from genlab.training.seq2seq_task import Seq2SeqTask

        return Seq2SeqTask(path, args)
    source = None
    if init_from:
        from genlab.training.init_from import InitFrom

        source = InitFrom(init_from, families=(args.model,))
    augmenter = None
    if augment:
        from genlab.augment.text import from_flags

        augmenter = from_flags(augment, getattr(args, "synonyms", None), getattr(args, "augment_copies", None),
                               args.seed if args.seed is not None else 1337)
    if args.model == "bert":
        from genlab.training.mlm_task import MaskedLMTask

        return MaskedLMTask(path, augment=augmenter, init_from=source)
    from genlab.training.lm_task import LanguageModelTask

    return LanguageModelTask(path, args.model, augment=augmenter, init_from=source)


def train_cli(args: argparse.Namespace) -> int:
    """``genlab train RUN --model rnn|lstm|gru|gpt|rnn-attn|transformer …`` (flags: genlab.cli.train_cmd)."""
    path = run_dir(args.run)
    saved = _refuse_early(path, args)
    task = make_task(args, path)
    if args.resume:
        model_config = saved["model"]
        for flag in SHAPE_FLAGS:
            value = getattr(args, flag, None)
            if value is not None and flag in model_config and model_config[flag] != value:
                raise GenlabError(f"--{flag.replace('_', '-')} {value} differs from the run's model "
                                  f"({model_config[flag]}); drop it to resume, or train a new run")
        cfg = resolve(args, saved.get("train"))
        for field in LR_SCALE_FIELDS:  # the optimizer's saved groups carry the run's own multiples
            before, now = float((saved.get("train") or {}).get(field, 1.0)), getattr(cfg, field)
            if now != before:
                flag = "--" + field.replace("_", "-")
                raise GenlabError(f"{flag} {now:g} differs from the run's ({before:g}): its optimizer state was "
                                  "saved with that; drop the flag to resume, or train a new run")
        preset = saved.get("preset")
    else:
        preset, defaults = _preset_defaults(task, args)
        model_config = task.model_config(args)
        source = getattr(task, "init_from", None)
        if source is not None:  # the architecture is the source run's; only the vocabulary may grow
            for flag in SHAPE_FLAGS:
                value = getattr(args, flag, None)
                if value is not None and flag != "dropout" and source.config["model"].get(flag) != value:
                    raise GenlabError(f"--{flag.replace('_', '-')} {value} differs from --init-from {source.path} "
                                      f"({source.config['model'].get(flag)}); drop it to start from that run")
            overrides = {"dropout": args.dropout} if getattr(args, "dropout", None) is not None else {}
            model_config = source.model_config(model_config["vocab_size"], overrides)
        cfg = resolve(args, defaults)
    result = fit(task, cfg, path, model_config, resume=args.resume, progress=not args.quiet, preset=preset)
    if from_environment().main:  # under torchrun, one report (rank 0's)
        report(result, task.family)
    return 0


def _refuse_early(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """What can be refused from the run's files alone, refused before the task is made: making a BERT's task
    adds ``<mask>`` to the run's tokenizer, which must not happen to a run the command then turns away.
    Returns the saved config of a run to resume (empty for a fresh start)."""
    if args.resume:
        require_checkpoint(path)
        saved = read_config(path)
        family = (saved.get("model") or {}).get("family")
        if family != args.model:  # every task's family is its --model
            raise GenlabError(f"{path} holds a {family} model, not {args.model}: resume it with --model {family}")
        return saved
    if (path / TRAIN_STATE).is_file() and not getattr(args, "overwrite", False):
        raise GenlabError(f"{path} already holds a trained neural model: continue it with --resume, "
                          "or pass --overwrite to start over (its weights will be replaced)")
    return {}


def _preset_defaults(task: TrainTask, args: argparse.Namespace) -> tuple[str | None, dict[str, Any]]:
    """Training defaults from the model's preset (language models) or the task's own (encoder–decoders)."""
    if task.family in SEQ2SEQ:
        defaults = getattr(task, "train_defaults", None)
        return getattr(args, "preset", None), dict(defaults() if callable(defaults) else defaults or {})
    from genlab.models.presets import preset_for

    name, preset = preset_for(task.family, getattr(args, "preset", None))
    return name, preset["train"]


def report(result: FitResult, family: str) -> None:
    r = result
    how = {"max_steps": "reached --max-steps", "time_budget": "time budget used", "early_stop":
           "early stopping (val loss stopped improving)"}.get(r.stopped, r.stopped)
    print(f"trained {family}: {r.steps:,} steps, {r.tokens:,} tokens in {r.elapsed:.1f} s ({how})")
    if r.interrupted:
        print(f"saved the latest checkpoint to {r.run_dir / LATEST_WEIGHTS}; continue with "
              f"`genlab train {r.run_dir} --model {family} --resume`")
        return
    if math.isfinite(r.last_val_loss):
        best_ppl = math.exp(r.best_val_loss) if r.best_val_loss < 700 else math.inf
        print(f"val loss {r.last_val_loss:.4f} · val perplexity {r.val_perplexity:.3f} "
              f"(best {r.best_val_loss:.4f} / perplexity {best_ppl:.3f} at step {r.best_step})")
    use = (f"genlab translate {r.run_dir} --beam 5" if family in ("rnn-attn", "transformer")
           else f"genlab fill {r.run_dir} \"… <mask> …\"" if family == "bert"
           else f"genlab generate {r.run_dir} --prompt …")
    print(f"weights: {r.run_dir / BEST_WEIGHTS} (best), {r.run_dir / LATEST_WEIGHTS} (latest); "
          f"next: genlab eval {r.run_dir} · {use}")
