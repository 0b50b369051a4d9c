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

from genlab.cli.args import positive_int
from genlab.cli.generator_cmd import (
    add_eval_flags,
    add_sample_flags,
    add_train_flags,
    evaluate_generator,
    train_generator,
)
from genlab.cli.image_cmd import no_verb, set_threads

MODELS = ("vgan",)
BRIGHT_BACKGROUND = 0.25  # mean border brightness above which the object generator's black ground is wrong


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
    add_train_flags(t, "VGANConfig", "--set generator=volume --set dynamics=true", "samples.gif, samples.png, loss.png")
    t.set_defaults(func=train)

    s = verbs.add_parser("sample", help="write generated clips as an animated GIF grid and a frame strip PNG")
    add_sample_flags(s, "GIF file to write (a frame strip goes next to it as .png)")
    s.set_defaults(func=sample)

    e = verbs.add_parser("eval", help="per-frame digits FID, temporal consistency and motion, next to real clips")
    add_eval_flags(e)
    e.set_defaults(func=evaluate)


def train(args: argparse.Namespace) -> int:
    from genlab.errors import GenlabError
    from genlab.video.data import CLIPS, load_data
    from genlab.video.run import VIDEO

    def load(spec: str):
        if args.clips and not spec.startswith("builtin:"):
            raise GenlabError("--clips applies to builtin:moving-digits only (a folder uses all its GIFs)")
        data = load_data(spec, clips=args.clips or CLIPS, seed=args.seed, frames=args.frames, size=args.image_size)
        _note_bright_background(args, data)
        return data

    return train_generator(args, VIDEO, "video", MODELS, "builtin:moving-digits", "--clips", load, "GIF",
                           "samples.gif, samples.png, loss.png", "genlab video eval {run}")


def _note_bright_background(args: argparse.Namespace, data) -> None:
    """The default object generator draws on black: say so when a new run's clips are not dark behind."""
    from genlab.cli.image_cmd import parse_settings
    from genlab.video.data import background_level
    from genlab.video.vgan import VGANConfig

    if parse_settings(VGANConfig, args.set).keys() & {"generator", "background"}:
        return
    level = background_level(data)
    if level > BRIGHT_BACKGROUND:
        print(f"note: these clips' backgrounds are not dark (mean border brightness {level:.2f}), and the default "
              "object generator draws its objects on black; pass --set background=true (a learned still "
              "background) or --set generator=volume (VGAN's whole-clip generator)", file=sys.stderr, flush=True)


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
    from genlab.video.classifier import load_or_train
    from genlab.video.metrics import evaluate_model
    from genlab.video.run import VIDEO

    return evaluate_generator(args, VIDEO, load_or_train, evaluate_model)
