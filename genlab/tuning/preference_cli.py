"""``genlab reward``, ``genlab score`` and ``genlab dpo``: learning from preferences, through the one loop.

Both training verbs start from a trained run (its weights, tokenizer and, for chat runs, its template),
hold out some pairs for validation, and train with :func:`genlab.training.loop.fit` — the same
checkpoints, ``--resume``, metrics and progress as every other training in genlab.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from genlab.chat import has_template
from genlab.checkpoint import read_config, run_dir
from genlab.errors import GenlabError
from genlab.stdin_text import stdin_lines
from genlab.tokenizers import Tokenizer
from genlab.training.config import resolve
from genlab.training.loop import fit
from genlab.training.state import require_checkpoint
from genlab.training.task import TRAIN_STATE
from genlab.tuning.prefs_data import PreferencePair, read_preferences
from genlab.tuning.sequences import Renderer

PREFERENCE_DEFAULTS: dict[str, Any] = {"batch_size": 16, "lr": 5e-4, "min_lr": 5e-5, "warmup_steps": 20,
                                       "max_steps": 500, "lr_decay_steps": 500, "eval_interval": 100,
                                       "eval_batches": 10, "weight_decay": 0.0}
#: DPO moves the whole policy, not a fresh head: at the reward model's 5e-4 it overfitted its pairs within
#: 120 CPU-s on NSMC (validation margins of ~10 nats, KL to the reference 8–10 nats whatever β from 0.5
#: to 4); at 1e-4 it reached 91.5 % judged-positive reviews at a KL of 4.8
DPO_DEFAULTS: dict[str, Any] = {**PREFERENCE_DEFAULTS, "lr": 1e-4, "min_lr": 1e-5}


def source_run(path: Path, families: tuple[str, ...], verb: str) -> tuple[dict[str, Any], Tokenizer]:
    from genlab.tokenizers import load as load_tokenizer

    if not (path / "config.json").is_file():
        raise GenlabError(f"{path} has no trained model (config.json missing); train it first")
    config = read_config(path)
    family = (config.get("model") or {}).get("family")
    if family not in families:
        raise GenlabError(f"{path} holds a {family} model; genlab {verb} needs a {' or '.join(families)} run")
    return config, load_tokenizer(path / "tokenizer.json")


def split_pairs(pairs: list[PreferencePair], fraction: float, seed: int) -> tuple[list, list]:
    if len(pairs) < 2:
        raise GenlabError(f"learning from preferences needs at least 2 pairs (one to validate on); got {len(pairs)}")
    n_val = min(len(pairs) - 1, max(1, round(fraction * len(pairs))))
    order = np.random.default_rng([seed, 23]).permutation(len(pairs))
    val = set(order[:n_val].tolist())
    return [p for i, p in enumerate(pairs) if i not in val], [p for i, p in enumerate(pairs) if i in val]


def prepare_out(out: Path, source: Path, args: argparse.Namespace, tokenizer: Tokenizer) -> None:
    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out {out} is a file; pass a directory for the new run")
    if out.resolve() == source.resolve():
        raise GenlabError("--out must be a new directory: this never overwrites the run it starts from")
    if args.resume:
        require_checkpoint(out)
        return
    if (out / TRAIN_STATE).is_file() and not args.overwrite:
        raise GenlabError(f"{out} already holds a trained model: continue it with --resume, or pass --overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenlabError(f"cannot create {out}: {exc.strerror or exc}") from exc
    tokenizer.save(out / "tokenizer.json")


def run_seed(args: argparse.Namespace, out: Path) -> int:
    """``--seed``, else the seed the run being resumed was started with (it decides the data split), else 1337."""
    if args.seed is not None:
        return int(args.seed)
    if getattr(args, "resume", False) and (out / "config.json").is_file():
        return int((read_config(out).get("train") or {}).get("seed", 1337))
    return 1337


def train_config(args: argparse.Namespace, out: Path, defaults: dict[str, Any]):
    if args.resume:
        return resolve(args, read_config(out).get("train"))
    return resolve(args, {**defaults, "seed": run_seed(args, out)}, decay_follows_stop=True)


#: above this share of <unk> among the answers' tokens, the run's tokenizer hardly reads the data
UNKNOWN_WARN = 0.2


def distinguishable(pairs: list[PreferencePair], tokenizer: Tokenizer, data: str, run: Path) -> list[PreferencePair]:
    """The pairs whose two answers still differ once tokenized. Text the run's tokenizer cannot read
    becomes <unk>, and two different answers can become the same ids: nothing to learn from, and a
    DPO or reward loss stuck at log 2 with no error. Those pairs are dropped (said so), all of them is an
    error, and a high <unk> share is a warning."""
    from genlab.tokenizers import UNK_ID

    kept, tokens, unknown = [], 0, 0
    for pair in pairs:
        chosen, rejected = tokenizer.encode(pair.chosen), tokenizer.encode(pair.rejected)
        tokens += len(chosen) + len(rejected)
        unknown += chosen.count(UNK_ID) + rejected.count(UNK_ID)
        if chosen != rejected:
            kept.append(pair)
    if not kept:
        raise GenlabError(f"{data}: every pair's two answers are the same tokens to {run}'s tokenizer "
                          f"({unknown:,} of {tokens:,} tokens are <unk>: text it cannot read); give pairs in the "
                          "language and script the run was trained on")
    if len(kept) < len(pairs):
        print(f"dropped {len(pairs) - len(kept):,} pair(s) of {data} whose answers are the same tokens to "
              f"{run}'s tokenizer")
    if tokens and unknown / tokens > UNKNOWN_WARN:
        print(f"warning: {unknown / tokens:.0%} of the answers' tokens are <unk> to {run}'s tokenizer: it cannot "
              "read much of this data", file=sys.stderr)
    return kept


def reward_cli(args: argparse.Namespace) -> int:
    """``genlab reward BASE --data PREFS.jsonl --out RM``: a Bradley–Terry reward model on a GPT base."""
    from genlab.tuning.reward import RewardTask, init_from_base, pairwise_accuracy, reward_config

    base, out = run_dir(args.base), Path(args.out)
    config, tokenizer = source_run(base, ("gpt",), "reward")
    pairs = distinguishable(read_preferences(args.data, args.skip_bad_lines), tokenizer, args.data, base)
    train, val = split_pairs(pairs, args.val_fraction, run_seed(args, out))
    prepare_out(out, base, args, tokenizer)
    model_config = reward_config(config)
    info = {"init_from": {"run": str(base), "family": "gpt"}, "chat_template": config.get("chat_template"),
            "preferences": {"data": args.data, "train_pairs": len(train), "val_pairs": len(val)}}
    task = RewardTask(Renderer(tokenizer, has_template(config)), train, val, int(model_config["block_size"]),
                      lambda cfg: init_from_base(base, cfg), info)
    print(f"reward model on {base}: {len(train):,} training pairs, {len(val):,} held out")
    result = fit(task, train_config(args, out, PREFERENCE_DEFAULTS), out, model_config, resume=args.resume,
                 progress=not args.quiet)
    from genlab.tuning.reward import load

    model = load(out, read_config(out))
    accuracy = pairwise_accuracy(model, task, task.splits["val"])
    print(f"trained reward model: {result.steps:,} steps in {result.elapsed:.1f} s ({result.stopped})")
    print(f"pairwise accuracy {100 * accuracy:.1f}% on {len(val):,} held-out pairs")
    print(f"next: genlab score {out} < answers.txt · genlab rlhf POLICY --reward {out} --prompts FILE --out RUN")
    return 0


def score_cli(args: argparse.Namespace) -> int:
    """``genlab score RM``: one reward per input line (a response; with --prompt, to that prompt)."""
    import torch

    from genlab.devices import resolve_device
    from genlab.models import load_model
    from genlab.tuning.sequences import pad
    from genlab.tuning.template import Message

    device = resolve_device(args.device)
    model, tokenizer, config = load_model(args.run, device=device, which=args.which)
    if (config.get("model") or {}).get("family") != "reward":
        raise GenlabError(f"{args.run} is not a reward model; make one with `genlab reward BASE --data PREFS.jsonl`")
    renderer = Renderer(tokenizer, has_template(config))
    prompt = (Message("user", args.prompt),) if args.prompt else ()
    lines = list(stdin_lines())
    for start in range(0, len(lines), 64):
        part = lines[start:start + 64]
        ids, _, lengths = pad([renderer.sequence(prompt, line) for line in part], model.block_size)
        with torch.inference_mode():
            scores = model(ids.to(device), lengths).tolist()
        for score in scores:
            print(f"{score:.4f}")
    return 0


def dpo_cli(args: argparse.Namespace) -> int:
    """``genlab dpo POLICY --data PREFS.jsonl --out RUN --beta 0.1``."""
    from genlab.models import load_model
    from genlab.tuning.dpo import DPOTask

    policy, out = run_dir(args.policy), Path(args.out)
    config, tokenizer = source_run(policy, ("gpt", "rnn", "lstm", "gru"), "dpo")
    pairs = distinguishable(read_preferences(args.data, args.skip_bad_lines), tokenizer, args.data, policy)
    train, val = split_pairs(pairs, args.val_fraction, run_seed(args, out))
    prepare_out(out, policy, args, tokenizer)
    model_config = dict(config["model"])
    info = {"init_from": {"run": str(policy), "family": model_config["family"]},
            "chat_template": config.get("chat_template"),
            "dpo": {"data": args.data, "beta": args.beta, "train_pairs": len(train), "val_pairs": len(val)}}

    def build(cfg: dict[str, Any]):
        model, _, _ = load_model(policy, device="cpu", which="best")
        return model.train()

    task = DPOTask(model_config["family"], Renderer(tokenizer, has_template(config)), train, val,
                   int(model_config["block_size"]), args.beta, build, info)
    print(f"DPO on {policy} (β {args.beta}): {len(train):,} training pairs, {len(val):,} held out")
    result = fit(task, train_config(args, out, DPO_DEFAULTS), out, model_config, resume=args.resume,
                 progress=not args.quiet)
    print(f"trained with DPO: {result.steps:,} steps in {result.elapsed:.1f} s ({result.stopped})")
    if math.isfinite(result.last_val_loss):
        print(f"val DPO loss {result.last_val_loss:.4f} (best {result.best_val_loss:.4f} at step {result.best_step})")
    print(f"next: genlab generate {out} --num 8 --format jsonl · genlab chat {out}")
    return 0


RL_DEFAULTS: dict[str, Any] = {"batch_size": 8, "lr": 3e-4, "min_lr": 3e-5, "warmup_steps": 5, "max_steps": 200,
                               "lr_decay_steps": 200, "eval_interval": 25, "eval_batches": 2, "weight_decay": 0.0,
                               "log_interval": 5}


def _grown_from(config: dict[str, Any], tokenizer: Tokenizer) -> str | None:
    """The run a fine-tune started from, where the fine-tune grew that run's ``tokenizer`` (chat tokens, new
    symbols: ``genlab finetune`` records the base's tokenizer fingerprint); else None."""
    base = config.get("init_from") or {}
    return base.get("run") if base.get("tokenizer_fingerprint") == tokenizer.fingerprint() else None


def _tokenizer_mismatch(policy: Path, config: dict[str, Any], tokenizer: Tokenizer, reward: Path,
                        rm_config: dict[str, Any], rm_tokenizer: Tokenizer) -> str:
    """Why the reward model cannot read the policy's answers, and what to do: it scores token ids, so the two
    must share one tokenizer (fingerprints compared); a fine-tune that grew its tokenizer is the usual cause."""
    sizes = f"vocabulary {rm_tokenizer.vocab_size:,} vs {tokenizer.vocab_size:,}"
    own = f"train the reward model on {policy} itself (`genlab reward {policy} --data PREFS.jsonl --out RM`)" \
        if (config.get("model") or {}).get("family") == "gpt" else \
        f"train the reward model on a gpt run that reads {policy}'s tokenizer"
    head = f"the reward model {reward} and the policy {policy} read different tokenizers ({sizes})"
    base = _grown_from(config, rm_tokenizer)
    if base is not None:
        return (f"{head}: {policy} started from {base}, whose tokenizer the reward model reads, and added tokens to "
                f"it (a chat fine-tune adds the chat template's); {own}")
    rm_base = (rm_config.get("init_from") or {}).get("run")
    rm_base_dir = Path(rm_base) if rm_base else None
    if rm_base_dir is not None and (rm_base_dir / "config.json").is_file() and \
            _grown_from(read_config(rm_base_dir), tokenizer) is not None:
        return (f"{head}: the reward model was trained on {rm_base}, which started from {policy}'s tokenizer and "
                f"added tokens to it; use {rm_base} as the policy, or {own}")
    return f"{head}: a reward model scores the policy's token ids, so both must read the same tokenizer; {own}"


def _policy_and_reward(policy: Path, reward: Path, verb: str) -> tuple[dict[str, Any], Tokenizer, dict[str, Any]]:
    config, tokenizer = source_run(policy, ("gpt", "rnn", "lstm", "gru"), verb)
    rm_config, rm_tokenizer = source_run(reward, ("reward",), f"{verb} --reward")
    if rm_tokenizer.fingerprint() != tokenizer.fingerprint():
        raise GenlabError(_tokenizer_mismatch(policy, config, tokenizer, reward, rm_config, rm_tokenizer))
    return config, tokenizer, rm_config


def rlhf_cli(args: argparse.Namespace) -> int:
    """``genlab rlhf POLICY --reward RM --prompts FILE --out RUN`` (RLOO or PPO with a KL leash)."""
    from genlab.models import load_model
    from genlab.tuning.rl import RLSettings, RLTask, read_prompts

    policy, reward, out = run_dir(args.policy), run_dir(args.reward), Path(args.out)
    config, tokenizer, rm_config = _policy_and_reward(policy, reward, "rlhf")
    prompts = read_prompts(args.prompts)
    seed = run_seed(args, out)
    if len(prompts) == 1:
        train, val = prompts, prompts
    else:
        order = np.random.default_rng([seed, 29]).permutation(len(prompts))
        n_val = max(1, round(args.val_fraction * len(prompts)))
        val = [prompts[i] for i in sorted(order[:n_val])]
        train = [prompts[i] for i in sorted(order[n_val:])]
    prepare_out(out, policy, args, tokenizer)
    settings = RLSettings(algo=args.algo, beta=args.beta, target_kl=args.target_kl or None, samples=args.samples,
                          max_new_tokens=args.max_new_tokens, temperature=args.sample_temperature,
                          ppo_epochs=args.ppo_epochs, reward_clip=args.reward_clip or None)
    model_config = dict(config["model"])
    info = {"init_from": {"run": str(policy), "family": model_config["family"]},
            "chat_template": config.get("chat_template"),
            "rlhf": {"algo": args.algo, "reward": str(reward), "prompts": args.prompts, "beta": args.beta,
                     "target_kl": settings.target_kl, "reward_clip": settings.reward_clip, "samples": args.samples,
                     "max_new_tokens": args.max_new_tokens}}

    def build(cfg: dict[str, Any]):
        model, _, _ = load_model(policy, device="cpu", which="best")
        return model.train()

    def load_reward():
        from genlab.tuning.reward import load

        return load(reward, rm_config, device=args.device if args.device != "auto" else "cpu")

    task = RLTask(model_config["family"], Renderer(tokenizer, has_template(config)),
                  Renderer(tokenizer, has_template(rm_config)), {"train": train, "val": val},
                  int(model_config["block_size"]), build, load_reward, settings, info)
    split = ("1 prompt, both trained on and scored as the held-out check (give 2 or more prompts to hold some out)"
             if len(prompts) == 1 else f"{len(train):,} training prompts, {len(val):,} held out")
    print(f"{args.algo.upper()} on {policy} with reward {reward}: {split}; {args.samples} answers per prompt, "
          f"β {args.beta}"
          + (f" adapting to {args.target_kl} nats of KL per answer" if settings.target_kl else " (fixed)"))
    result = fit(task, train_config(args, out, RL_DEFAULTS), out, model_config, resume=args.resume,
                 progress=not args.quiet)
    print(f"trained with {args.algo.upper()}: {result.steps:,} steps in {result.elapsed:.1f} s ({result.stopped})")
    if math.isfinite(result.last_val_loss):
        print(f"held-out objective (reward − β₀·KL, β₀ the starting β) {-result.last_val_loss:.4f} "
              f"(best {-result.best_val_loss:.4f} at "
              f"step {result.best_step}); reward, KL, entropy, length and distinct-2 are in {out / 'metrics.jsonl'}")
    return 0


def prefs_cli(args: argparse.Namespace) -> int:
    """``genlab prefs POLICY --reward RM --prompts FILE --samples K --out PREFS.jsonl``: on-policy pairs."""
    import json

    from genlab.devices import resolve_device
    from genlab.generate import GREEDY_BELOW, SamplingConfig, complete
    from genlab.models import load_model
    from genlab.tuning.reward import load
    from genlab.tuning.rl import read_prompts
    from genlab.tuning.sequences import pad

    policy, reward = run_dir(args.policy), run_dir(args.reward)
    config, tokenizer, rm_config = _policy_and_reward(policy, reward, "prefs")
    if args.samples < 2:
        raise GenlabError("--samples must be ≥ 2 (the best and the worst answer make a pair)")
    if args.temperature < GREEDY_BELOW:
        raise GenlabError(f"--temperature {args.temperature:g} decodes greedily: all {args.samples} answers to a "
                          "prompt would be the same and make no pair; sample with a temperature such as 0.8")
    out = Path(args.out)
    if out.exists() and (out.is_dir() or out.resolve() == Path(args.prompts).resolve()):
        raise GenlabError(f"--out {out} is {'a directory' if out.is_dir() else 'the --prompts file'}; "
                          "write the pairs to a new file")
    device = resolve_device(args.device)
    model, _, _ = load_model(policy, device=device)
    rm = load(reward, rm_config, device=device)
    renderer, rm_renderer = Renderer(tokenizer, has_template(config)), Renderer(tokenizer, has_template(rm_config))
    import torch

    lines = []
    for i, prompt in enumerate(read_prompts(args.prompts)):
        cfg = SamplingConfig(max_tokens=args.max_new_tokens, temperature=args.temperature,
                             seed=None if args.seed is None else args.seed + i, stop_ids=renderer.stop_ids())
        answers = [c.text for c in complete(model, tokenizer, renderer.prompt_ids(prompt)[1:], cfg,
                                            num=args.samples, device=device)]
        ids, _, lengths = pad([rm_renderer.sequence(prompt, a) for a in answers], rm.block_size)
        with torch.inference_mode():
            scores = rm(ids.to(device), lengths).tolist()
        best, worst = int(np.argmax(scores)), int(np.argmin(scores))
        if answers[best] == answers[worst]:
            continue  # all answers alike: no preference to learn
        record = {"prompt": "".join(m.content for m in prompt) if not has_template(config) else
                  [{"role": m.role, "content": m.content} for m in prompt],
                  "chosen": answers[best], "rejected": answers[worst],
                  "scores": {"chosen": scores[best], "rejected": scores[worst]}}
        lines.append(json.dumps(record, ensure_ascii=False))
    if not lines:  # an existing --out is left as it was
        raise GenlabError(f"no preference pairs: for every prompt the {args.samples} answers were the same; raise "
                          "--temperature or --samples, or give longer --max-new-tokens")
    from genlab.checkpoint import write_text

    write_text(args.out, "".join(line + "\n" for line in lines))
    print(f"wrote {len(lines):,} preference pairs to {args.out} (best vs worst of {args.samples} answers per prompt "
          f"by {reward}); next: genlab dpo {policy} --data {args.out} --out RUN")
    return 0
