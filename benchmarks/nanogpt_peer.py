"""Run nanoGPT's own ``train.py`` as a peer, in a scratch copy, and read its figures off its output.

Used by ``shakespeare_char.py --nanogpt DIR``: ``DIR`` is a checkout of karpathy/nanoGPT (outside this
repository; none of its code is copied here). The copy lives in a temporary folder, its
``data/shakespeare_char/input.txt`` is our tinyshakespeare.txt (so ``prepare.py`` downloads nothing and
splits the same characters 90/10 by position, as it always does), and ``train.py`` runs with the "baby
Shakespeare" CPU settings as a child process with ``OMP_NUM_THREADS`` set to genlab's thread count.

Measured here, not taken from nanoGPT: wall time of ``train.py`` (start-up, evaluations and checkpoint
writes included, as a user waits for them), each evaluation line stamped with the time it was printed,
the median of its own per-iteration times, its CPU seconds and peak RSS (``wait4``'s rusage of that one
child: exact, no polling).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: the "baby Shakespeare" CPU run: nanoGPT's config/train_shakespeare_char.py with its laptop overrides
BABY_ARGS = ("--device=cpu", "--compile=False", "--eval_iters=20", "--block_size=64", "--batch_size=12",
             "--n_layer=4", "--n_head=4", "--n_embd=128", "--dropout=0.0")
#: the config file's own GPU run (batch 64 × 256, 6 layers, 6 heads, 384 dims, dropout 0.2, 200 eval batches),
#: bfloat16 autocast as train.py picks on a GPU that has it; ``--compile`` is added by the caller
GPU_ARGS = ("--device=cuda", "--dtype=bfloat16")
EVAL_LINE = re.compile(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)")
ITER_LINE = re.compile(r"^iter (\d+): loss ([\d.]+), time ([\d.]+)ms")


def check_checkout(source: Path) -> str | None:
    """Why ``source`` is not a usable nanoGPT checkout, or ``None``."""
    needed = ("train.py", "model.py", "configurator.py", "config/train_shakespeare_char.py",
              "data/shakespeare_char/prepare.py")
    missing = [name for name in needed if not (source / name).is_file()]
    if missing:
        return (f"--nanogpt {source} is not a nanoGPT checkout (missing {', '.join(missing)}); "
                "clone https://github.com/karpathy/nanoGPT and pass its folder")
    return None


def run_nanogpt(source: Path, text: Path, work: Path, threads: int, iters: int,
                config_args: tuple[str, ...] = BABY_ARGS) -> dict:
    """Prepare and train nanoGPT in a scratch copy under ``work``; its figures as a dict.

    ``config_args`` override the config file: :data:`BABY_ARGS` (the CPU run) or :data:`GPU_ARGS` plus a
    ``--compile=`` choice.
    """
    copy = work / "nanoGPT"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".git", "out*", "__pycache__", "assets"))
    data = copy / "data" / "shakespeare_char"
    shutil.copyfile(text, data / "input.txt")  # prepare.py reads it and downloads nothing
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONUNBUFFERED": "1"}
    prep = subprocess.run([sys.executable, "prepare.py"], cwd=data, env=env, capture_output=True, text=True)
    if prep.returncode != 0:
        raise RuntimeError(f"nanoGPT's prepare.py failed:\n{prep.stderr[-2000:]}")
    every = [f"--eval_interval={iters}"] if iters < 250 else []  # a short look still ends with an evaluation
    cmd = [sys.executable, "train.py", "config/train_shakespeare_char.py", *config_args, *every, f"--max_iters={iters}",
           f"--lr_decay_iters={iters}", f"--out_dir={work / 'nanogpt-out'}"]
    print("nanoGPT:", " ".join(cmd[1:]), f"(OMP_NUM_THREADS={threads})", flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)
    evals: list[dict] = []
    iter_ms: list[tuple[int, float]] = []
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - started
        tail = (tail + [line])[-20:]
        if m := EVAL_LINE.match(line):
            evals.append({"step": int(m[1]), "time": round(now, 2), "train_loss": float(m[2]),
                          "val_loss": float(m[3])})
            print(f"  nanoGPT at {now:6.1f} s: {line.strip()}", flush=True)
        elif m := ITER_LINE.match(line):
            iter_ms.append((int(m[1]), float(m[3])))
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: peak RSS and CPU time
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0 or not evals:
        raise RuntimeError(f"nanoGPT's train.py failed (exit {proc.returncode}):\n{''.join(tail)}")
    # iterations whose time includes an evaluation (the first after each) are left out of the median
    eval_steps = {e["step"] for e in evals}
    steady = [ms for it, ms in iter_ms if it not in eval_steps and it > 0]
    return {"val_loss": evals[-1]["val_loss"], "steps": evals[-1]["step"], "wall_s": wall,
            "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "ms_per_step": statistics.median(steady) if steady else float("nan"), "evals": evals,
            "threads": threads, "batch_size": batch_size(config_args)}


def batch_size(config_args: tuple[str, ...]) -> int:
    """The batch the run used: an override's, else the config file's 64."""
    given = [a.split("=", 1)[1] for a in config_args if a.startswith("--batch_size=")]
    return int(given[-1]) if given else 64
