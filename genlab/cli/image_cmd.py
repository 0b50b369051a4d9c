"""``genlab image train|sample|eval``: the image generators (autoencoder, VAE, GAN, flow, diffusion).

    genlab image train RUN --model vae --data builtin:digits --time-budget 60 --seed 0
    genlab image sample RUN --num 64 --out grid.png --seed 1
    genlab image eval RUN            # digits FID next to its real-vs-real baseline, bits/dim, …

Family hyperparameters are the fields of each family's ``Config`` (see ``genlab/image/<family>.py``);
the common ones have flags, any of them can be set with ``--set NAME=VALUE``, and ``config.json``
records every value used.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from genlab.cli.args import add_device, duration, nonneg_float, nonneg_int, positive_int, probability

MODELS = ("autoencoder", "vae", "gan", "flow", "diffusion")
#: how a --set value of each field type is named in an error
_KIND = {bool: "true or false", int: "an integer", float: "a number"}  # text fields take any value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("image", help="train, sample and evaluate image generators (VAE, GAN, flow, diffusion)",
                       description="Image generators on scikit-learn's bundled 8x8 digits or a folder of "
                       "PNG/JPEG images: autoencoder, VAE, GAN, RealNVP flow, DDPM diffusion.")
    verbs = p.add_subparsers(dest="image_verb", metavar="{train,sample,eval}", parser_class=type(p))
    p.set_defaults(func=lambda args: no_verb(p))

    t = verbs.add_parser("train", help="train a model into a run directory")
    t.add_argument("run", help="run directory (created; use --resume to continue one)")
    t.add_argument("--model", choices=MODELS, help="model family (required unless --resume)")
    t.add_argument("--data", help="builtin:digits (default) or a folder of PNG/JPEG images "
                   "(sub-folders name classes)")
    t.add_argument("--image-size", type=positive_int, default=32, choices=[8, 16, 32, 64],
                   help="folders: resize images to this square size")
    t.add_argument("--channels", type=int, choices=[1, 3], help="folders: 1 = grayscale, 3 = RGB (default: auto)")
    t.add_argument("--time-budget", type=duration, help="stop after this long, e.g. 300, 5m (see --budget-clock)")
    t.add_argument("--budget-clock", choices=["wall", "cpu"], default="wall",
                   help="measure --time-budget in wall seconds, or in CPU seconds per thread (fair when the "
                   "machine is shared with other jobs)")
    t.add_argument("--max-steps", type=positive_int, help="stop at this step (total, counting earlier sessions)")
    t.add_argument("--seed", type=nonneg_int, default=0)
    t.add_argument("--resume", action="store_true", help="continue the run from its latest checkpoint")
    t.add_argument("--batch-size", type=positive_int)
    t.add_argument("--lr", type=nonneg_float, help="learning rate (GAN: of both networks)")
    t.add_argument("--eval-interval", type=positive_int, help="evaluate on validation images every N steps")
    t.add_argument("--early-stop", type=nonneg_int, help="stop after N evaluations without improvement (0: never)")
    t.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any field of the family's Config, e.g. --set latent=8 --set schedule=linear")
    add_threads(t)
    add_step_dtype(t)
    t.add_argument("--augment", choices=["none", "geometric", "diffaugment", "all"], default="none",
                   help="geometric: shifts, rotations, elastic distortion of training images; diffaugment: "
                   "differentiable augmentation of a GAN discriminator's inputs (DiffAugment); all: both")
    t.add_argument("--augment-strength", type=nonneg_float, default=1.0, help="scales every augmentation (default 1)")
    t.add_argument("--train-fraction", type=probability,
                   help="keep only this fraction of the training images (seeded; a small-data experiment)")
    t.add_argument("--no-pictures", action="store_true", help="skip samples.png, loss.png, … at the end")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device(t)
    t.set_defaults(func=train)

    s = verbs.add_parser("sample", help="draw images from a trained run into a PNG grid")
    s.add_argument("run")
    s.add_argument("--num", type=positive_int, default=64)
    s.add_argument("--out", required=True, help="PNG file to write")
    s.add_argument("--seed", type=nonneg_int, default=0, help="same seed, same images")
    s.add_argument("--which", default="best", choices=["best", "latest"])
    s.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="sampling settings, e.g. --set sampler=ddim --set sample_steps=50 (diffusion)")
    add_threads(s)
    add_device(s)
    s.set_defaults(func=sample)

    e = verbs.add_parser("eval", help="digits FID (with its real-vs-real baseline), coverage, bits/dim, …")
    e.add_argument("run")
    e.add_argument("--num", type=positive_int, help="samples to score (default: as many as held-out images)")
    e.add_argument("--seed", type=nonneg_int, default=0)
    e.add_argument("--which", default="best", choices=["best", "latest"])
    e.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="as for sample")
    e.add_argument("--json", action="store_true", help="also print the report as one JSON line")
    add_threads(e)
    add_device(e)
    e.set_defaults(func=evaluate)


def add_step_dtype(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dtype", choices=["float32", "bfloat16", "auto"], default="float32",
                   help="autocast of each training step; auto: time a few steps each way, train in the faster "
                   "(bfloat16 pays on CPUs with AVX-512 BF16 or AMX, and on GPUs)")


def add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=positive_int, default=1,
                   help="CPU threads for PyTorch (default 1: these models are small, and extra threads mostly "
                   "wait on each other, badly so on a busy machine)")


def set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def no_verb(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def parse_settings(config_cls: type, items: list[str]) -> dict:
    """``NAME=VALUE`` strings → typed values for fields of a family's ``Config`` (types from the defaults)."""
    from genlab.errors import GenlabError

    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in fields:
            raise GenlabError(f"--set {item!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}")
        default = fields[name].default
        try:
            if isinstance(default, bool):
                if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(text)
                value = text.lower() in ("true", "1", "yes")
            elif isinstance(default, int):
                value = int(text)
            elif isinstance(default, float):
                value = float(text)
            else:
                value = text
        except ValueError:
            raise GenlabError(f"--set {item!r}: {name} must be {_KIND[type(default)]}") from None
        out[name] = value
    return out


def apply_settings(model, items: list[str]):
    """Change sampling-time fields of a loaded model's config (architecture fields would not match its weights)."""
    from genlab.errors import GenlabError
    from genlab.image.settings import check_settings

    if not items:
        return model
    settings = parse_settings(type(model.config), items)
    allowed = getattr(model, "sampling_settings", ())
    fixed = sorted(set(settings) - set(allowed))
    if fixed:
        can = ", ".join(allowed) if allowed else "none"
        raise GenlabError(f"--set {', '.join(fixed)}: fixed when the {model.family} model was trained; "
                          f"settings that can change for sampling: {can}")
    check_settings(type(model.config), settings, model.family)
    model.config = dataclasses.replace(model.config, **settings)
    if hasattr(model, "config_changed"):
        model.config_changed()
    return model


def train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.image import run as runs
    from genlab.image.data import keep_fraction, load_data
    from genlab.image.protocol import family_class
    from genlab.image.settings import check_settings
    from genlab.image.trainer import ImageTrainConfig, new_run
    from genlab.image.trainer import train as train_loop

    run = Path(args.run)
    cfg = ImageTrainConfig(seed=args.seed, time_budget=args.time_budget, max_steps=args.max_steps,
                           clock=args.budget_clock, threads=args.threads, device=resolve_device(args.device),
                           quiet=args.quiet, pictures=not args.no_pictures, augment=args.augment,
                           augment_strength=args.augment_strength, dtype=args.dtype)
    flags = {"batch_size": args.batch_size, "lr": args.lr, "eval_interval": args.eval_interval,
             "early_stop": args.early_stop}
    if args.resume:
        config = runs.read_config(run)
        family = config["model"]["family"]
        if args.model and args.model != family:
            raise GenlabError(f"{run} holds a {family} model, not {args.model}; drop --model or use a new run")
        if args.data or args.set or any(v is not None for v in flags.values()):
            raise GenlabError("--resume continues with the run's own data and settings; drop --data/--set/"
                              "--batch-size/--lr/--eval-interval/--early-stop, or start a new run")
    else:
        if not args.model:
            raise GenlabError("genlab image train needs --model (one of " + ", ".join(MODELS) + ")")
        if runs.has_checkpoint(run):
            raise GenlabError(f"{run} already holds a trained model: pass --resume to continue it, "
                              "or choose a new run directory")
        overrides = parse_settings(family_class(args.model).Config, args.set)
        overrides.update({k: v for k, v in flags.items() if v is not None})
        if args.lr is not None and args.model == "gan":
            overrides.setdefault("lr_g", args.lr)
        check_settings(family_class(args.model).Config, overrides, args.model)  # before the data loads
        data = load_data(args.data or "builtin:digits", size=args.image_size, channels=args.channels)
        if data.skipped:
            print(f"genlab: note: skipped {data.skipped} non-image file(s) in {args.data}", file=sys.stderr)
        if args.train_fraction is not None:
            data = keep_fraction(data, args.train_fraction, args.seed)
        new_run(run, args.model, data, overrides, cfg)
    result = train_loop(run, cfg)
    best = "" if result.best_value is None else f"; best {result.selection} {result.best_value:.4f} " \
                                                 f"at step {result.best_step}"
    print(f"trained {runs.read_config(run)['model']['family']} for {result.steps} steps in {result.elapsed:.1f} s "
          f"(stopped: {result.stop_reason}){best}")
    print(f"run: {run}  (weights, samples.png, loss.png; `genlab image eval {run}`)")
    return 0


def sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.image.plots import ink_convention, save_grid
    from genlab.image.run import load_run

    set_threads(args.threads)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise GenlabError(f"--out {out}: the grid is written as PNG; name the file *.png")
    model, data, _ = load_run(args.run, args.which, resolve_device(args.device))
    model = apply_settings(model, args.set)
    images = model.sample(args.num, seed=args.seed)
    save_grid(images, out, f"{model.family}: {args.num} samples (seed {args.seed})", ink=ink_convention(data.source))
    print(f"wrote {args.num} samples to {out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    import json

    from genlab.devices import resolve_device
    from genlab.image.classifier import load_or_train
    from genlab.image.metrics import evaluate_model
    from genlab.image.run import load_run

    set_threads(args.threads)
    model, data, _ = load_run(args.run, args.which, resolve_device(args.device))
    model = apply_settings(model, args.set)
    judge = load_or_train(args.run, data)
    report = evaluate_model(model, judge, data, num=args.num or data.count("test"), seed=args.seed)
    for line in report.lines():
        print(line)
    if args.json:
        print(json.dumps(report.as_dict()))
    return 0
