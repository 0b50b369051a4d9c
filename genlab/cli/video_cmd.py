"""``genlab video train|sample|eval``: the video generator (VGAN) on moving digits or a folder of animated GIFs.

    genlab video train RUN --model vgan --data builtin:moving-digits --time-budget 300 --seed 0
    genlab video sample RUN --num 16 --out clips.gif --seed 1   # + clips.png, a frame strip
    genlab video eval RUN                                       # per-frame FID, consistency, motion vs real

Same run directory, trainer, checkpoints and resume as ``genlab image`` (``genlab/image/trainer.py``);
model hyperparameters are the fields of ``VGANConfig`` (``--set NAME=VALUE``).
"""

from __future__ import annotations

import argparse
import sys

from genlab.cli.args import add_device, duration, nonneg_float, nonneg_int, positive_int
from genlab.cli.image_cmd import add_threads, no_verb, parse_settings, set_threads

MODELS = ("vgan",)


def _clip_count(text: str) -> int:
    value = positive_int(text)
    if value < 10:
        raise argparse.ArgumentTypeError(f"need at least 10 clips (train, validation and test), got {text!r}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="train, sample and evaluate video generators (VGAN)",
                       description="Video generators (3D CNN GAN) on bouncing scikit-learn digits, or a folder "
                       "of animated GIFs.")
    verbs = p.add_subparsers(dest="video_verb", metavar="{train,sample,eval}", parser_class=type(p))
    p.set_defaults(func=lambda args: no_verb(p))

    t = verbs.add_parser("train", help="train a model into a run directory")
    t.add_argument("run", help="run directory (created; use --resume to continue one)")
    t.add_argument("--model", choices=MODELS, help="model family (required unless --resume)")
    t.add_argument("--data", help="builtin:moving-digits (default) or a folder of animated GIFs "
                   "(sub-folders name classes)")
    t.add_argument("--clips", type=_clip_count, help="builtin:moving-digits: how many clips (default 1500)")
    t.add_argument("--frames", type=int, choices=[8, 16, 24, 32], default=16, help="GIF folders: frames per clip")
    t.add_argument("--image-size", type=int, choices=[16, 32, 64], default=32, help="GIF folders: frame size")
    t.add_argument("--time-budget", type=duration, help="stop after this long, e.g. 300, 5m (see --budget-clock)")
    t.add_argument("--budget-clock", choices=["wall", "cpu"], default="wall",
                   help="measure --time-budget in wall seconds, or in CPU seconds per thread")
    t.add_argument("--max-steps", type=positive_int, help="stop at this step (total, counting earlier sessions)")
    t.add_argument("--seed", type=nonneg_int, default=0, help="training seed; also the seed of the built-in data")
    t.add_argument("--resume", action="store_true", help="continue the run from its latest checkpoint")
    t.add_argument("--batch-size", type=positive_int)
    t.add_argument("--lr", type=nonneg_float, help="learning rate of both networks")
    t.add_argument("--eval-interval", type=positive_int, help="score samples every N steps (keeps the best)")
    t.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any field of VGANConfig, e.g. --set g_width=16 --set mask_l1=0")
    add_threads(t)
    t.add_argument("--no-pictures", action="store_true", help="skip samples.gif, samples.png, loss.png")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device(t)
    t.set_defaults(func=train)

    s = verbs.add_parser("sample", help="write generated clips as an animated GIF grid and a frame strip PNG")
    s.add_argument("run")
    s.add_argument("--num", type=positive_int, default=16)
    s.add_argument("--out", required=True, help="GIF file to write (a frame strip goes next to it as .png)")
    s.add_argument("--seed", type=nonneg_int, default=0, help="same seed, same clips")
    s.add_argument("--which", default="best", choices=["best", "latest"])
    add_threads(s)
    add_device(s)
    s.set_defaults(func=sample)

    e = verbs.add_parser("eval", help="per-frame digits FID, temporal consistency and motion, next to real clips")
    e.add_argument("run")
    e.add_argument("--num", type=positive_int, help="clips to score (default: as many as held-out clips)")
    e.add_argument("--seed", type=nonneg_int, default=0)
    e.add_argument("--which", default="best", choices=["best", "latest"])
    e.add_argument("--json", action="store_true", help="also print the report as one JSON line")
    add_threads(e)
    add_device(e)
    e.set_defaults(func=evaluate)


def train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.image import run as runs
    from genlab.image.trainer import ImageTrainConfig, new_run
    from genlab.image.trainer import train as train_loop
    from genlab.video.data import CLIPS, load_data
    from genlab.video.run import VIDEO

    run = Path(args.run)
    cfg = ImageTrainConfig(seed=args.seed, time_budget=args.time_budget, max_steps=args.max_steps,
                           clock=args.budget_clock, threads=args.threads, device=resolve_device(args.device),
                           quiet=args.quiet, pictures=not args.no_pictures)
    flags = {"batch_size": args.batch_size, "lr": args.lr, "eval_interval": args.eval_interval}
    if args.resume:
        config = runs.read_config(run, VIDEO)
        family = config["model"]["family"]
        if args.model and args.model != family:
            raise GenlabError(f"{run} holds a {family} model, not {args.model}; drop --model or use a new run")
        if args.data or args.set or args.clips or any(v is not None for v in flags.values()):
            raise GenlabError("--resume continues with the run's own data and settings; drop --data/--set/"
                              "--clips/--batch-size/--lr/--eval-interval, or start a new run")
    else:
        if not args.model:
            raise GenlabError("genlab video train needs --model (one of " + ", ".join(MODELS) + ")")
        if runs.has_checkpoint(run):
            raise GenlabError(f"{run} already holds a trained model: pass --resume to continue it, "
                              "or choose a new run directory")
        overrides = parse_settings(VIDEO.family_class(args.model).Config, args.set)
        overrides.update({k: v for k, v in flags.items() if v is not None})
        if args.lr is not None:
            overrides.setdefault("lr_g", args.lr)
        spec = args.data or "builtin:moving-digits"
        if args.clips and not spec.startswith("builtin:"):
            raise GenlabError("--clips applies to builtin:moving-digits only (a folder uses all its GIFs)")
        data = load_data(spec, clips=args.clips or CLIPS, seed=args.seed, frames=args.frames, size=args.image_size)
        if data.skipped:
            print(f"genlab: note: skipped {data.skipped} non-GIF file(s) in {args.data}", file=sys.stderr)
        new_run(run, args.model, data, overrides, cfg, kind=VIDEO)
    result = train_loop(run, cfg, kind=VIDEO)
    best = "" if result.best_value is None else f"; best {result.selection} {result.best_value:.4f} " \
                                                 f"at step {result.best_step}"
    print(f"trained {runs.read_config(run, VIDEO)['model']['family']} for {result.steps} steps in "
          f"{result.elapsed:.1f} s (stopped: {result.stop_reason}){best}")
    print(f"run: {run}  (weights, samples.gif, samples.png, loss.png; `genlab video eval {run}`)")
    return 0


def sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.image.run import load_run
    from genlab.video.plots import save_gif, save_strip
    from genlab.video.run import VIDEO

    set_threads(args.threads)
    out = Path(args.out)
    if out.suffix.lower() != ".gif":
        raise GenlabError(f"--out {out}: the clips are written as an animated GIF; name the file *.gif")
    if out.is_dir():
        raise GenlabError(f"--out {out} is a folder; name a .gif file")
    model, _, _ = load_run(args.run, args.which, resolve_device(args.device), kind=VIDEO)
    clips = model.sample(args.num, seed=args.seed)
    save_gif(clips, out)
    strip = out.with_suffix(".png")
    save_strip(clips, strip, f"{model.family}: samples, frames left to right (seed {args.seed})")
    print(f"wrote {args.num} clips ({clips.shape[2]} frames of {clips.shape[3]}x{clips.shape[4]}) to {out} "
          f"and a frame strip to {strip}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    import json

    from genlab.devices import resolve_device
    from genlab.image.run import load_run
    from genlab.video.classifier import load_or_train
    from genlab.video.metrics import evaluate_model
    from genlab.video.run import VIDEO

    set_threads(args.threads)
    model, data, _ = load_run(args.run, args.which, resolve_device(args.device), kind=VIDEO)
    judge = load_or_train(args.run, data)
    report = evaluate_model(model, judge, data, num=args.num or data.count("test"), seed=args.seed)
    for line in report.lines():
        print(line)
    if args.json:
        print(json.dumps(report.as_dict()))
    return 0
