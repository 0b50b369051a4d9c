"""``genlab audio train|sample|eval``: the audio generators (SpecGAN, WaveGAN) on spoken digits or WAV files.

    genlab audio train RUN --model specgan --data builtin:spoken-digits --time-budget 300 --seed 0
    genlab audio sample RUN --num 16 --out clips/ --seed 1     # clips/000.wav …, spectrograms.png, index.html
    genlab audio sample RUN --word ko:삼 --out three/           # a conditional run (specgan's default)
    genlab audio eval RUN                                      # inception score next to the real clips'

Same run directory, trainer, checkpoints and resume as ``genlab image`` (``genlab/image/trainer.py``);
model hyperparameters are the fields of ``SpecGANConfig`` / ``WaveGANConfig`` (``--set NAME=VALUE``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from genlab.cli.args import positive_int
from genlab.cli.generator_cmd import (
    add_eval_flags,
    add_sample_flags,
    add_train_flags,
    evaluate_generator,
    train_generator,
)
from genlab.cli.image_cmd import no_verb, set_threads

if TYPE_CHECKING:
    import torch

    from genlab.audio.data import AudioData

MODELS = ("wavegan", "specgan")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audio", help="train, sample and evaluate audio generators (SpecGAN, WaveGAN)",
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
    add_train_flags(t, "SpecGANConfig or WaveGANConfig", "--set griffin_lim=32 (specgan), --set loss=wgan-gp "
                    "(wavegan)", "samples.png, loss.png")
    t.set_defaults(func=train)

    s = verbs.add_parser("sample", help="write generated clips as WAV files and a spectrogram grid")
    add_sample_flags(s, "folder for NNN.wav, spectrograms.png and index.html, a page to listen to them "
                     "beside real clips (written to real/) (created)")
    s.add_argument("--word", help="a conditional run (specgan by default, wavegan with --set conditional=true): "
                   "say this word in every clip, "
                   "e.g. en:three or ko:삼 (default: the words in turn)")
    s.set_defaults(func=sample)

    e = verbs.add_parser("eval", help="inception score and Fréchet distance, next to real held-out clips")
    add_eval_flags(e)
    e.set_defaults(func=evaluate)


def train(args: argparse.Namespace) -> int:
    from genlab.audio.data import load_data
    from genlab.audio.run import AUDIO
    from genlab.errors import GenlabError

    def load(spec: str):
        if args.clips_per_word and not spec.startswith("builtin:"):
            raise GenlabError("--clips-per-word applies to builtin:spoken-digits only")
        return load_data(spec, data_dir=args.data_dir, clips_per_word=args.clips_per_word, seed=args.seed,
                         quiet=args.quiet)

    return train_generator(args, AUDIO, "audio", MODELS, "builtin:spoken-digits", "--clips-per-word", load, "WAV",
                           "samples.png, loss.png", "genlab audio sample {run} --out DIR")


def sample(args: argparse.Namespace) -> int:
    import torch

    from genlab.audio.plots import save_spectrograms
    from genlab.audio.run import AUDIO
    from genlab.audio.wav import write_wav
    from genlab.audio.words import sample_words
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
    labels = None
    if args.word is not None:
        if not getattr(model, "conditional", False):
            raise GenlabError(f"{args.run} is unconditional: it cannot be asked for a word; train a run with "
                              "--set conditional=true, or drop --word")
        if args.word not in data.classes:
            raise GenlabError(f"--word {args.word!r} is not one of this run's words: {', '.join(data.classes)}")
        labels = torch.full((args.num,), data.classes.index(args.word))
    labels = sample_words(model.config, args.num, labels, model.family)  # unasked: the words in turn
    clips = model.sample(args.num, seed=args.seed, labels=labels)
    digits = max(3, len(str(args.num - 1)))
    files = [f"{i:0{digits}d}.wav" for i in range(args.num)]
    for file, clip in zip(files, clips):
        write_wav(out / file, clip[0].numpy(), data.sample_rate)
    said = f", word {args.word}" if args.word else ""
    title = f"{model.family}: {args.num} samples (seed {args.seed}{said})"
    save_spectrograms(clips[:64], out / "spectrograms.png", data.sample_rate,
                      f"{model.family}: {min(64, args.num)} samples (seed {args.seed}{said})")
    page = _listening_page(args, out, clips, files, labels, data, title)
    print(f"wrote {args.num} clips ({data.sample_rate} Hz, 16-bit mono WAV), spectrograms.png and {page.name} "
          f"(open it in a browser to listen) to {out}")
    return 0


def _listening_page(args: argparse.Namespace, out: Path, clips: torch.Tensor, files: list[str],
                    labels: torch.Tensor | None, data: AudioData, title: str) -> Path:
    """``out/index.html``: the clips in players, what the cached judge hears, and a few real clips under real/."""
    from genlab.audio.classifier import cached
    from genlab.audio.listening_page import clip_rows, real_examples, write_listening_page
    from genlab.audio.wav import write_wav

    judge = cached(Path(args.run), data)
    asked = [data.classes[int(k)] for k in labels] if labels is not None else None
    generated = clip_rows(clips, files, judge, data.classes, asked)
    pick = real_examples(data.labels["test"] if data.labels is not None else None, data.count("test"),
                         min(8, args.num))
    real = data.tensor("test")[pick]
    real_files = [f"real/{i:03d}.wav" for i in range(len(real))]
    for file, clip in zip(real_files, real):
        write_wav(out / file, clip[0].numpy(), data.sample_rate)
    said = [data.classes[int(k)] for k in data.labels["test"][pick]] if data.labels is not None else None
    return write_listening_page(out, title, generated, clip_rows(real, real_files, judge, data.classes, said),
                                judge, str(args.run))


def evaluate(args: argparse.Namespace) -> int:
    from genlab.audio.classifier import load_or_train
    from genlab.audio.metrics import evaluate_model
    from genlab.audio.run import AUDIO

    return evaluate_generator(args, AUDIO, lambda run, data: load_or_train(run, data, quiet=False), evaluate_model)
