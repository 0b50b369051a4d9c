"""Image augmentation with few images: each generator's digits FID with 10 % of the training digits,
with and without augmentation.

For each family in ``--families``: ``genlab image train --train-fraction F`` without augmentation, and
with it — DiffAugment on the GAN's discriminator (``--augment diffaugment``; ``--gan-all`` adds the
geometric warps too), shifts/rotations/elastic distortion (``--augment geometric``) for the others —
each for ``--budget`` seconds, then ``genlab image eval`` (digits FID of as many samples as there are
held-out images, against the held-out digits; lower is better). Every run uses the same seeds.
Prints a table and a JSON object as its last line.

``--gan-strength`` sets the GAN's ``--augment-strength`` (default 1, DiffAugment's own ratios, set for
32×32 images and up: on 8×8 digits the cutout hides a 4×4 quarter of what the discriminator sees).
Measured on 10 % of the digits, one thread, AMD EPYC (FID of the best checkpoint, lower is better):

| run | none | DiffAugment 1 | 0.5 | 0.25 |
| --- | --- | --- | --- | --- |
| 300 CPU s, seed 0 | 1.064¹ | 1.152¹ | 1.124 | 1.234 |
| 600 CPU s, seed 0 | 1.064 | — | **1.026** | — |
| 600 CPU s, seed 1 | **1.628** | — | 1.801 | — |

¹ measured the day before, same CPU kind (the 600 s run without augmentation kept the same step-2,500
checkpoint and the same 1.064).

The runs without augmentation pick a checkpoint from early on (step 1,500–2,500) and then overfit.
DiffAugment at 0.5 was still improving at 600 s, but the two seeds disagree on which is better, and they
differ from each other by more than augmentation changes either.

Four seeds on 2026-11-27 (600 CPU-s, strength 0.5, same CPU kind; seeds 0 and 1 rerun the same day):

| seed | 0 | 1 | 2 | 3 | mean |
| --- | --- | --- | --- | --- | --- |
| none | 1.064 | 1.628 | 1.562 | 1.481 | 1.434 |
| DiffAugment 0.5 | **0.976** | 1.801 | **1.215** | **1.143** | **1.284** |

Augmentation lowers the FID on three seeds of four and by 0.15 (10 %) on average; seed 1 is the
exception. (Seed 0's augmented run ended at 0.976 here against 1.026 the day before: a CPU-second
budget does not fix the step count, and its best checkpoint came late.)

    python benchmarks/augment_images.py                              # gan, vae, diffusion; 10 min each
    python benchmarks/augment_images.py --families gan --budget 120 --work /tmp/aug
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model  # a sibling module: benchmarks run as scripts from this folder


def genlab(*args: str) -> str:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"genlab {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    print(f"    genlab {' '.join(args[:4])} … ({time.perf_counter() - start:.0f} s wall)", flush=True)
    return proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--families", default="gan,vae,diffusion")
    ap.add_argument("--fraction", type=float, default=0.1, help="fraction of the training digits kept")
    ap.add_argument("--budget", type=float, default=600, help="seconds of training per run")
    ap.add_argument("--clock", default="cpu", choices=["wall", "cpu"])
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (FID is averaged over them)")
    ap.add_argument("--gan-all", action="store_true", help="also a GAN with DiffAugment + geometric warps")
    ap.add_argument("--gan-strength", type=float, default=1.0,
                    help="--augment-strength of the augmented GAN runs (default 1; the other families use 1)")
    ap.add_argument("--work", default="runs/bench-augment")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cpu = cpu_model()
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; 1 thread; "
          f"{args.fraction:.0%} of the training digits; {args.budget:.0f} {args.clock}-s per run; "
          f"the GAN's augmentation strength {args.gan_strength:g}")
    results: dict[str, dict[str, float]] = {}
    seeds = [s for s in args.seeds.split(",") if s]
    for family in [f for f in args.families.split(",") if f]:
        variants = ["none", "diffaugment" if family == "gan" else "geometric"]
        strength = args.gan_strength if family == "gan" else 1.0
        if family == "gan" and args.gan_all:
            variants.append("all")
        for augment in variants:
            fids = []
            for seed in seeds:
                run = work / (f"{family}-{augment}-{seed}" if augment == "none"
                              else f"{family}-{augment}-x{strength:g}-{seed}")
                if not (run / "config.json").is_file() or not (run / "model-best.safetensors").is_file():
                    genlab("image", "train", str(run), "--model", family, "--train-fraction", str(args.fraction),
                           "--augment", augment, "--augment-strength", str(strength),
                           "--time-budget", str(args.budget), "--budget-clock", args.clock,
                           "--seed", seed, "--quiet", "--no-pictures")
                report = json.loads(genlab("image", "eval", str(run), "--json").strip().splitlines()[-1])
                fids.append(report["fid"])
            results.setdefault(family, {})[augment] = sum(fids) / len(fids)
            print(f"  {family:<10} augment {augment:<12} digits FID {results[family][augment]:.2f} "
                  f"(seeds {', '.join(seeds)})", flush=True)
    print(f"\n{'family':<12}{'no augmentation':>18}{'augmented':>14}{'change':>10}")
    for family, row in results.items():
        plain = row["none"]
        for name, fid in row.items():
            if name != "none":
                print(f"{family:<12}{plain:>18.2f}{fid:>14.2f}{fid - plain:>+10.2f}   ({name})")
    print(json.dumps({"cpu": cpu, "clock": args.clock, "budget_s": args.budget, "fraction": args.fraction,
                      "gan_strength": args.gan_strength,
                      "seeds": seeds, "digits_fid": results}))


if __name__ == "__main__":
    main()
