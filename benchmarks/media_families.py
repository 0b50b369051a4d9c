"""The audio and video generators against their targets, with the image GAN as the peer at the same budget.

    python benchmarks/media_families.py                             # 300 s per model, wall clock
    python benchmarks/media_families.py --budget 300 --clock cpu --threads 2
    python benchmarks/media_families.py --dtype auto                  # bfloat16 steps where they are faster

The models train from scratch (seed 0) with their default settings for the same budget, each keeping
its best checkpoint by its judge's Fréchet distance:

- ``specgan`` (the default audio generator) and ``wavegan`` on ``builtin:spoken-digits`` (20 words,
  synthesised by espeak-ng, cached), each in turn: inception score
  and Fréchet distance of as many samples as held-out clips, next to the real held-out clips' figures;
  then evidence that samples are words: the judge's predicted word and confidence for the first
  samples, whether the nearest real training clip (log-mel distance, no network) is the same word, and
  sox's ``stat`` (RMS, rough frequency) of the written WAV files next to the real clips of that word;
- ``vgan`` on ``builtin:moving-digits``: per-frame digits FID, temporal consistency and motion, next to
  real clips;
- ``gan`` (the image GAN) on the 8×8 digits: its digits FID, the peer figure of the video target.

Targets (issue 16): audio inception score ≥ ½ of the real clips'; video per-frame FID ≤ 3× the image
GAN's digits FID; consistency ≥ 80 %; motion within 50 % of real. Prints a table and one JSON object
as its last line. ``--clock cpu`` measures budgets in CPU seconds per thread (fair on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from genlab.image.run import IMAGE, load_run
from genlab.image.trainer import ImageTrainConfig, new_run, train


def _train(run: Path, family: str, data, judge, kind, args) -> dict:
    from genlab.cli.image_cmd import parse_settings

    shutil.rmtree(run, ignore_errors=True)
    cfg = ImageTrainConfig(seed=args.seed, time_budget=args.budget, clock=args.clock, threads=args.threads,
                           quiet=not args.progress, dtype=args.dtype)
    mine = [item.partition(":")[2] for item in args.set if item.partition(":")[0] == family]
    settings = parse_settings(kind.family_class(family).Config, mine)
    if settings:
        print(f"[{family}] settings: {settings}", flush=True)
    new_run(run, family, data, settings, cfg, kind=kind)
    print(f"[{family}] training for {args.budget:.0f} s ({args.clock} clock, {args.threads} threads)…", flush=True)
    result = train(run, cfg, judge=judge, kind=kind)
    used = json.loads((run / "config.json").read_text())["train"]["dtype_used"]
    print(f"[{family}] {result.steps} steps ({used}), stopped: {result.stop_reason}; best {result.selection} "
          f"{result.best_value:.4f} at step {result.best_step}", flush=True)
    return {"steps": result.steps, "train_s": result.elapsed, "best_step": result.best_step, "dtype": used}


def sox_stat(path: Path) -> dict[str, float]:
    """``sox FILE -n stat`` → {"RMS amplitude": …, "Rough frequency": …, …} (empty without sox)."""
    if shutil.which("sox") is None:
        return {}
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, timeout=60).stderr
    stats = {}
    for line in out.splitlines():
        name, _, value = line.partition(":")
        try:
            stats[name.strip()] = float(value.split()[0])
        except (ValueError, IndexError):
            continue
    return stats


def audio(args, family: str = "specgan") -> dict:
    from genlab.audio.classifier import train_classifier
    from genlab.audio.data import load_data
    from genlab.audio.metrics import evaluate_model
    from genlab.audio.run import AUDIO
    from genlab.audio.spectrogram import log_mel
    from genlab.audio.wav import write_wav

    data = load_data("builtin:spoken-digits", clips_per_word=args.clips_per_word, seed=args.seed,
                     quiet=not args.progress)
    print(f"[{family}] spoken digits: {data.describe()['counts']} clips of 1 s at 8 kHz, {len(data.classes)} words",
          flush=True)
    judge = train_classifier(data)
    print(f"[{family}] judge: log-mel CNN, held-out accuracy {judge.accuracy:.1%}", flush=True)
    run = Path(args.out) / family
    row = _train(run, family, data, judge, AUDIO, args)
    model, data, _ = load_run(run, "best", kind=AUDIO)
    report = evaluate_model(model, judge, data, num=data.count("test"), seed=args.seed)
    for line in report.lines():
        print(f"[{family}]   {line}", flush=True)
    row.update(report.as_dict())

    # evidence that the samples are words: judge predictions, nearest real clip, sox stat of the WAV files
    samples = model.sample(args.listen, seed=args.seed)
    probs = judge.probs(samples)
    train_x = torch.cat([data.tensor("train"), data.tensor("val")])
    train_y = np.concatenate([data.labels["train"], data.labels["val"]])
    spec_s = log_mel(samples, data.sample_rate).flatten(1)
    spec_t = log_mel(train_x, data.sample_rate).flatten(1)
    nearest = train_y[torch.cdist(spec_s, spec_t).argmin(1).numpy()]
    folder = run / "listen"
    checks = []
    for i, clip in enumerate(samples):
        word = int(probs[i].argmax())
        path = folder / f"{i:02d}-{data.classes[word].replace(':', '-')}.wav"
        write_wav(path, clip[0].numpy(), data.sample_rate)
        real_of_word = np.flatnonzero(data.labels["test"] == word)[:1]
        real_path = folder / f"real-{data.classes[word].replace(':', '-')}.wav"
        if len(real_of_word):
            write_wav(real_path, data.images["test"][real_of_word[0], 0], data.sample_rate)
        s, r = sox_stat(path), sox_stat(real_path) if len(real_of_word) else {}
        checks.append({"file": path.name, "word": data.classes[word], "confidence": float(probs[i].max()),
                       "nearest_real_word": data.classes[int(nearest[i])], "agrees": bool(nearest[i] == word),
                       "rms": s.get("RMS     amplitude"), "real_rms": r.get("RMS     amplitude"),
                       "rough_hz": s.get("Rough   frequency"), "real_rough_hz": r.get("Rough   frequency")})
        c = checks[-1]
        print(f"[{family}]   listen/{c['file']}: judge {c['word']} ({c['confidence']:.2f}), nearest real clip "
              f"{c['nearest_real_word']}; sox RMS {c['rms']} (real {c['real_rms']}), rough freq "
              f"{c['rough_hz']} Hz (real {c['real_rough_hz']})", flush=True)
    row["listen"] = checks
    row["nearest_agreement"] = float(np.mean([c["agrees"] for c in checks]))
    return row


def video(args) -> dict:
    from genlab.video.classifier import load_or_train as video_judge
    from genlab.video.data import load_moving_digits
    from genlab.video.metrics import evaluate_model
    from genlab.video.run import VIDEO

    data = load_moving_digits(args.video_clips, seed=args.seed)
    print(f"[vgan] moving digits: {data.describe()['counts']} clips of {data.shape}", flush=True)
    judge = video_judge(None, data)
    print(f"[vgan] frame judge: the image digits judge (128-unit MLP) on each frame's inkiest 8x8 window, "
          f"held-out digit accuracy {judge.accuracy:.1%}", flush=True)
    run = Path(args.out) / "vgan"
    row = _train(run, "vgan", data, judge, VIDEO, args)
    model, data, _ = load_run(run, "best", kind=VIDEO)
    report = evaluate_model(model, judge, data, num=data.count("test"), seed=args.seed)
    for line in report.lines():
        print(f"[vgan]   {line}", flush=True)
    row.update(report.as_dict())
    return row


def image_gan(args) -> dict:
    from genlab.image.classifier import load_or_train
    from genlab.image.data import load_digits
    from genlab.image.metrics import evaluate_model

    data = load_digits()
    judge = load_or_train(None, data)
    run = Path(args.out) / "gan"
    row = _train(run, "gan", data, judge, IMAGE, args)
    model, data, _ = load_run(run, "best")
    report = evaluate_model(model, judge, data, num=data.count("test"), seed=args.seed)
    for line in report.lines():
        print(f"[gan]   {line}", flush=True)
    row.update(report.as_dict())
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=300.0, help="seconds of training per model (default 300)")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                   help="wall time, or CPU seconds per thread (fair on a shared machine)")
    p.add_argument("--models", default="specgan,wavegan,vgan,gan",
                   help="comma-separated subset of specgan,wavegan,vgan,gan")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", action="append", default=[], metavar="FAMILY:NAME=VALUE",
                   help="a model setting, e.g. wavegan:conditional=true wavegan:spectral=1 wavegan:width=16")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "auto"],
                   help="autocast of each training step (auto: the faster here, probed per model)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clips-per-word", type=int, default=80, help="spoken digits: takes per word (default 80)")
    p.add_argument("--video-clips", type=int, default=1500, help="moving digits: clips (default 1500)")
    p.add_argument("--listen", type=int, default=10, help="audio samples written and checked one by one")
    p.add_argument("--out", default="runs/bench-media")
    p.add_argument("--progress", action="store_true", help="show progress bars")
    args = p.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - {"specgan", "wavegan", "vgan", "gan"})
    if unknown:
        p.error(f"unknown models {unknown}")
    torch.set_num_threads(args.threads)
    Path(args.out).mkdir(parents=True, exist_ok=True)

    rows = {}
    for name in ("specgan", "wavegan"):
        if name in models:
            rows[name] = audio(args, name)
    for name, fn in (("vgan", video), ("gan", image_gan)):
        if name in models:
            rows[name] = fn(args)

    targets = {}
    for name in ("specgan", "wavegan"):  # the audio target, for each audio generator that ran
        if name in rows:
            a = rows[name]
            targets[f"audio_is_at_least_half_real_{name}"] = a["inception_score"] >= 0.5 * a["real_inception_score"]
    if "vgan" in rows:
        v = rows["vgan"]
        if "gan" in rows:
            targets["video_fid_at_most_3x_image_gan"] = v["fid"] <= 3 * rows["gan"]["fid"]
        targets["video_consistency_at_least_80pct"] = v["consistency"] >= 0.8
        close = abs(v["motion"] - v["real_motion"]) <= 0.5 * v["real_motion"]
        targets["video_motion_within_50pct_of_real"] = close

    print()
    print(f"budget {args.budget:.0f} s per model ({args.clock} clock, {args.threads} threads), seed {args.seed}, "
          f"--dtype {args.dtype}")
    for name in ("specgan", "wavegan"):
        if name not in rows:
            continue
        a = rows[name]
        print(f"{name:8s} {a['steps']:>6} steps  inception score {a['inception_score']:.2f} "
              f"(real {a['real_inception_score']:.2f}, half {a['real_inception_score'] / 2:.2f})  "
              f"FD {a['frechet']:.2f} (real {a['real_frechet']:.2f})  "
              f"words {a['words_covered']}/{a['num_classes']}  nearest-real agreement {a['nearest_agreement']:.0%}")
    if "vgan" in rows:
        v = rows["vgan"]
        print(f"vgan     {v['steps']:>6} steps  per-frame FID {v['fid']:.2f} (real {v['real_fid']:.2f})  "
              f"consistency {v['consistency']:.1%} (real {v['real_consistency']:.1%})  motion {v['motion']:.2f} "
              f"px/frame (real {v['real_motion']:.2f})")
    if "gan" in rows:
        g = rows["gan"]
        print(f"gan      {g['steps']:>6} steps  digits FID {g['fid']:.2f} (real-vs-real {g['real_fid']:.2f}); "
              f"3× = {3 * g['fid']:.2f}")
    for name, ok in targets.items():
        print(f"target {name}: {'met' if ok else 'NOT met'}")
    summary = {"benchmark": "media_families", "budget_s": args.budget, "clock": args.clock, "threads": args.threads,
               "dtype": args.dtype, "settings": args.set,
               "seed": args.seed, "targets": targets, "results": rows}
    print(json.dumps(summary, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
