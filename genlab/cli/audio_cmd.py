"""``genlab audio train|sample|eval``: the audio generator (WaveGAN) on spoken digits or a folder of WAV files.

    genlab audio train RUN --model wavegan --data builtin:spoken-digits --time-budget 300 --seed 0
    genlab audio sample RUN --num 16 --out clips/ --seed 1     # clips/000.wav … + clips/spectrograms.png
    genlab audio eval RUN                                      # inception score next to the real clips'

Same run directory, trainer, checkpoints and resume as ``genlab image`` (``genlab/image/trainer.py``);
model hyperparameters are the fields of ``WaveGANConfig`` (``--set NAME=VALUE``).
"""

from __future__ import annotations

import argparse
import sys

from genlab.cli.args import add_device, duration, nonneg_float, nonneg_int, positive_int
from genlab.cli.image_cmd import add_threads, no_verb, parse_settings, set_threads

MODELS = ("wavegan",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audio", help="train, sample and evaluate audio generators (WaveGAN)",
                       description="Audio generators (1D CNN GAN) on spoken digits synthesised offline by "
                       "espeak-ng, or a folder of 8 kHz mono 16-bit WAV clips.")
    verbs = p.add_subparsers(dest="audio_verb", metavar="{train,sample,eval}", parser_class=type(p))
    p.set_defaults(func=lambda args: no_verb(p))

    t = verbs.add_parser("train", help="train a model into a run directory")
    t.add_argument("run", help="run directory (created; use --resume to continue one)")
    t.add_argument("--model", choices=MODELS, help="model family (required unless --resume)")
    t.add_argument("--data", help="builtin:spoken-digits (default) or a folder of WAV files (8 kHz, mono, "
                   "16-bit, ≤ 1 s; sub-folders name the words)")
    t.add_argument("--data-dir", help="where builtin:spoken-digits is cached (default: $GENLAB_DATA_DIR, else "
                   "~/.cache/genlab)")
    t.add_argument("--clips-per-word", type=positive_int, help="builtin:spoken-digits: takes of each of the 20 "
                   "words (default 80)")
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
                   help="any field of WaveGANConfig, e.g. --set loss=wgan-gp --set d_steps=5")
    add_threads(t)
    t.add_argument("--no-pictures", action="store_true", help="skip samples.png and loss.png at the end")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device(t)
    t.set_defaults(func=train)

    s = verbs.add_parser("sample", help="write generated clips as WAV files and a spectrogram grid")
    s.add_argument("run")
    s.add_argument("--num", type=positive_int, default=16)
    s.add_argument("--out", required=True, help="folder for NNN.wav and spectrograms.png (created)")
    s.add_argument("--seed", type=nonneg_int, default=0, help="same seed, same clips")
    s.add_argument("--which", default="best", choices=["best", "latest"])
    add_threads(s)
    add_device(s)
    s.set_defaults(func=sample)

    e = verbs.add_parser("eval", help="inception score and Fréchet distance, next to real held-out clips")
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

    from genlab.audio.data import load_data
    from genlab.audio.run import AUDIO
    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.image import run as runs
    from genlab.image.trainer import ImageTrainConfig, new_run
    from genlab.image.trainer import train as train_loop

    run = Path(args.run)
    cfg = ImageTrainConfig(seed=args.seed, time_budget=args.time_budget, max_steps=args.max_steps,
                           clock=args.budget_clock, threads=args.threads, device=resolve_device(args.device),
                           quiet=args.quiet, pictures=not args.no_pictures)
    flags = {"batch_size": args.batch_size, "lr": args.lr, "eval_interval": args.eval_interval}
    if args.resume:
        config = runs.read_config(run, AUDIO)
        family = config["model"]["family"]
        if args.model and args.model != family:
            raise GenlabError(f"{run} holds a {family} model, not {args.model}; drop --model or use a new run")
        if args.data or args.set or args.clips_per_word or any(v is not None for v in flags.values()):
            raise GenlabError("--resume continues with the run's own data and settings; drop --data/--set/"
                              "--clips-per-word/--batch-size/--lr/--eval-interval, or start a new run")
    else:
        if not args.model:
            raise GenlabError("genlab audio train needs --model (one of " + ", ".join(MODELS) + ")")
        if runs.has_checkpoint(run):
            raise GenlabError(f"{run} already holds a trained model: pass --resume to continue it, "
                              "or choose a new run directory")
        overrides = parse_settings(AUDIO.family_class(args.model).Config, args.set)
        overrides.update({k: v for k, v in flags.items() if v is not None})
        if args.lr is not None:
            overrides.setdefault("lr_g", args.lr)
        spec = args.data or "builtin:spoken-digits"
        if args.clips_per_word and not spec.startswith("builtin:"):
            raise GenlabError("--clips-per-word applies to builtin:spoken-digits only")
        data = load_data(spec, data_dir=args.data_dir, clips_per_word=args.clips_per_word, seed=args.seed,
                         quiet=args.quiet)
        if data.skipped:
            print(f"genlab: note: skipped {data.skipped} non-WAV file(s) in {args.data}", file=sys.stderr)
        new_run(run, args.model, data, overrides, cfg, kind=AUDIO)
    result = train_loop(run, cfg, kind=AUDIO)
    best = "" if result.best_value is None else f"; best {result.selection} {result.best_value:.4f} " \
                                                 f"at step {result.best_step}"
    print(f"trained {runs.read_config(run, AUDIO)['model']['family']} for {result.steps} steps in "
          f"{result.elapsed:.1f} s (stopped: {result.stop_reason}){best}")
    print(f"run: {run}  (weights, samples.png, loss.png; `genlab audio sample {run} --out DIR`)")
    return 0


def sample(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genlab.audio.plots import save_spectrograms
    from genlab.audio.run import AUDIO
    from genlab.audio.wav import write_wav
    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.image.run import load_run

    set_threads(args.threads)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GenlabError(f"--out {out} is a file; the clips are written into a folder: name a folder")
    if out.suffix.lower() in (".wav", ".png"):
        raise GenlabError(f"--out {out}: name a folder (the clips become {out.stem}/000.wav …)")
    model, data, _ = load_run(args.run, args.which, resolve_device(args.device), kind=AUDIO)
    clips = model.sample(args.num, seed=args.seed)
    digits = len(str(args.num - 1))
    for i, clip in enumerate(clips):
        write_wav(out / f"{i:0{max(3, digits)}d}.wav", clip[0].numpy(), data.sample_rate)
    save_spectrograms(clips[:64], out / "spectrograms.png", data.sample_rate,
                      f"{model.family}: {min(64, args.num)} samples (seed {args.seed})")
    print(f"wrote {args.num} clips ({data.sample_rate} Hz, 16-bit mono WAV) and spectrograms.png to {out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    import json

    from genlab.audio.classifier import load_or_train
    from genlab.audio.metrics import evaluate_model
    from genlab.audio.run import AUDIO
    from genlab.devices import resolve_device
    from genlab.image.run import load_run

    set_threads(args.threads)
    model, data, _ = load_run(args.run, args.which, resolve_device(args.device), kind=AUDIO)
    judge = load_or_train(args.run, data, quiet=False)
    report = evaluate_model(model, judge, data, num=args.num or data.count("test"), seed=args.seed)
    for line in report.lines():
        print(line)
    if args.json:
        print(json.dumps(report.as_dict()))
    return 0
