"""Why pretraining matters: the same fine-tuning budget from scratch vs from a pretrained base.

1. Pretrain a char GPT on NSMC movie reviews + Tiny Shakespeare (Hangul and Latin text) for
   ``--pretrain`` seconds (``genlab train --model gpt``).
2. Fine-tune it on ``builtin:skills`` for ``--finetune`` seconds (``genlab finetune``), and fine-tune the
   same architecture from random weights (``--init random``) for the same time.
3. Score both on the built-in test questions: training phrasings with new values ("seen") and
   phrasings never trained on ("unseen"), per skill (``genlab eval RUN --data builtin:skills``).
4. LoRA's memory: on a 6-layer 384-wide GPT, peak RSS and trainable parameters of a few fine-tuning
   steps with full weights vs ``--lora-rank 8``.

Everything runs through the real command line, one process at a time. Prints a table and a JSON
object as its last line.

    python benchmarks/sft.py                         # 5 min pretraining, 10 min per fine-tune
    python benchmarks/sft.py --pretrain 60 --finetune 120 --work /tmp/sft-quick
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model  # a sibling module: benchmarks run as scripts from this folder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def genlab(*args: str, quiet: bool = False) -> tuple[str, float]:
    """Run ``genlab ARGS``; returns (stdout, wall seconds)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"genlab {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    if not quiet:
        for line in proc.stdout.strip().splitlines():
            print(f"    {line}", flush=True)
    return proc.stdout, wall


def pretraining_corpus(work: Path, reviews: int) -> Path:
    """NSMC review text (labels unused) and Tiny Shakespeare, one document per line."""
    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    lines = (DATA / "nsmc_ratings_train.txt").read_text(encoding="utf-8").splitlines()[1:reviews + 1]
    (corpus / "nsmc.txt").write_text("\n".join(line.split("\t")[1] for line in lines if line.count("\t") == 2) + "\n",
                                     encoding="utf-8")
    (corpus / "shakespeare.txt").write_text((DATA / "tinyshakespeare.txt").read_text(encoding="utf-8"),
                                            encoding="utf-8")
    return corpus


def skills_score(run: Path) -> dict:
    out, wall = genlab("eval", str(run), "--data", "builtin:skills", "--json", "--quiet", quiet=True)
    report = json.loads(out.strip().splitlines()[-1])
    report["eval_seconds"] = round(wall, 1)
    return report


def lora_memory(work: Path, base: Path, threads: str) -> dict:
    """Peak RSS of 10 fine-tuning steps of a 6-layer 384-wide GPT, all weights vs LoRA rank 8.

    At batch 2 the weights, gradients and AdamW moments (what LoRA saves) dominate memory; at large
    batches activations do, and those LoRA does not save.
    """
    big = work / "big"
    genlab("prepare", "--corpus", str(work / "corpus" / "shakespeare.txt"), "--out", str(big), "--quiet", quiet=True)
    genlab("train", str(big), "--model", "gpt", "--preset", "gpt-small", "--max-steps", "1", "--batch-size", "2",
           "--threads", threads, "--quiet", quiet=True)
    results = {}
    for name, extra in (("full", []), ("lora-8", ["--lora-rank", "8"])):
        out_dir = work / f"big-{name}"
        command = [sys.executable, "-m", "genlab", "finetune", str(big), "--data", "builtin:skills", "--out",
                   str(out_dir), "--max-steps", "10", "--batch-size", "2", "--eval-interval", "1000", "--threads",
                   threads, "--quiet", "--overwrite", *extra]
        # ru_maxrss of children is the largest child so far: measure each run from a fresh interpreter
        probe = subprocess.run([sys.executable, "-c", (
            "import resource, subprocess, sys, time; t = time.perf_counter();"
            f"subprocess.run({command!r}, check=True, capture_output=True);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, time.perf_counter() - t)")],
            capture_output=True, text=True, check=True)
        rss, wall = probe.stdout.split()
        config = json.loads((out_dir / "config.json").read_text())
        trained = config["runtime"]["trainable_parameters"]
        results[name] = {"peak_rss_mb": int(rss), "seconds_10_steps": round(float(wall), 1),
                         "parameters": config["runtime"]["parameters"], "trainable_parameters": trained,
                         # float32 gradient + AdamW's two moments per trained parameter
                         "grad_and_adam_mb": round(trained * 4 * 3 / 2**20, 1)}
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pretrain", type=float, default=300, help="seconds of pretraining")
    ap.add_argument("--finetune", type=float, default=600, help="seconds of fine-tuning, each of the two")
    ap.add_argument("--reviews", type=int, default=150_000, help="NSMC reviews in the pretraining corpus")
    ap.add_argument("--threads", default="2", help="PyTorch threads for every run")
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"],
                    help="what the time budgets count (cpu: CPU seconds per thread, fair on a shared machine)")
    ap.add_argument("--preset", default="gpt-tiny-fast",
                    help="the base's recipe (gpt-tiny-fast: rotary positions, Muon; gpt-tiny: GPT-2's layout)")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--dtype", default="auto", help="fine-tuning's autocast dtype (auto: bfloat16 where it is faster)")
    ap.add_argument("--work", default="runs/bench-sft", help="scratch folder")
    ap.add_argument("--skip-lora", action="store_true")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cpu = cpu_model()
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; threads {args.threads}; "
          f"budgets in {args.clock} seconds")

    corpus = pretraining_corpus(work, args.reviews)
    base = work / "base"
    print(f"1. prepare + pretrain (char GPT, {args.preset}, context 128)")
    genlab("prepare", "--corpus", str(corpus), "--unit", "line", "--out", str(base), "--quiet")
    _, pre_wall = genlab("train", str(base), "--model", "gpt", "--preset", args.preset, "--block-size", "128",
                            "--time-budget", str(args.pretrain), "--budget-clock", args.clock, "--seed", args.seed,
                            "--threads", args.threads,
                            "--overwrite", "--quiet")
    rows = {}
    for name, init in (("pretrained", "base"), ("scratch", "random")):
        run = work / f"sft-{name}"
        print(f"2. fine-tune from {name} weights for {args.finetune:.0f} s")
        out, _ = genlab("finetune", str(base), "--data", "builtin:skills", "--out", str(run), "--init", init,
                           "--time-budget", str(args.finetune), "--budget-clock", args.clock, "--seed", args.seed,
                           "--threads", args.threads, "--dtype", args.dtype,
                           "--overwrite", "--quiet")
        report = skills_score(run)
        report["steps"] = int(re.search(r"fine-tuned: ([\d,]+) steps", out).group(1).replace(",", ""))
        rows[name] = report

    print("\n3. exact match on builtin:skills test questions")
    print(f"{'start':<12}{'all':>8}{'seen':>8}{'unseen':>8}{'steps':>8}")
    for name, r in rows.items():
        g = r["groups"]
        print(f"{name:<12}{100 * r['exact_match']:>7.1f}%{100 * g.get('phrasing=seen', 0):>7.1f}%"
              f"{100 * g.get('phrasing=unseen', 0):>7.1f}%{r['steps']:>8}")
    skills = sorted({k.split("/")[0] for k in rows["pretrained"]["cells"]})
    print(f"\n{'skill':<16}" + "".join(f"{n + ' ' + t:>18}" for n in rows for t in ("seen", "unseen")))
    for skill in skills:
        print(f"{skill:<16}" + "".join(f"{100 * rows[n]['cells'].get(f'{skill}/{t}', 0):>17.1f}%"
                                       for n in rows for t in ("seen", "unseen")))
    lora = {} if args.skip_lora else lora_memory(work, base, args.threads)
    for name, r in lora.items():
        print(f"LoRA memory, {name}: peak RSS {r['peak_rss_mb']} MB, {r['trainable_parameters']:,} of "
              f"{r['parameters']:,} parameters trained (gradients + AdamW moments {r['grad_and_adam_mb']} MB), "
              f"10 steps in {r['seconds_10_steps']} s")
    summary = {
        "cpu": cpu, "threads": args.threads, "clock": args.clock, "preset": args.preset, "pretrain_s": args.pretrain,
        "finetune_s": args.finetune,
        "pretrain_wall_s": round(pre_wall, 1),
        "pretrained_exact": rows["pretrained"]["exact_match"],
        "pretrained_seen": rows["pretrained"]["groups"].get("phrasing=seen"),
        "pretrained_unseen": rows["pretrained"]["groups"].get("phrasing=unseen"),
        "scratch_exact": rows["scratch"]["exact_match"],
        "scratch_seen": rows["scratch"]["groups"].get("phrasing=seen"),
        "scratch_unseen": rows["scratch"]["groups"].get("phrasing=unseen"),
        "lora": lora,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
