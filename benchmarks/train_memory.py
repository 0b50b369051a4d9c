"""Training memory does not grow with the corpus: the same GPT on 1 MB and on a ≥ 1 GB corpus.

genlab's token store is memory-mapped and each batch reads only its own windows, so a training
process holds the model, the optimizer, one batch's activations and the pages it touched — not the
corpus. This generates a text corpus of ``--gb`` gigabytes under ``--tmp`` (shuffled tinyshakespeare
paragraphs with their words re-drawn, so the text is not one repeated block), prepares it with
``genlab prepare`` (char tokens), trains the baby-Shakespeare GPT on it for ``--steps`` steps while
sampling the trainer's RSS twice a second, and does the same on tinyshakespeare itself (1.1 MB).
Peak and final RSS are printed for both, next to nanoGPT's 373 MB (REFERENCE.md). Everything
generated is deleted at the end. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def generate_corpus(path: Path, gigabytes: float, seed: int = 0) -> int:
    """Write ``gigabytes`` of Shakespeare-like paragraphs; returns the bytes written."""
    text = DATA.read_text(encoding="utf-8")
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    words = text.split()
    rng = np.random.default_rng(seed)
    target = int(gigabytes * 1e9)
    written = 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < target:
            block = []
            for i in rng.integers(0, len(paragraphs), size=2000):
                para = paragraphs[i].split(" ")
                swaps = rng.integers(0, len(para), size=max(1, len(para) // 5))
                for s, w in zip(swaps, rng.integers(0, len(words), size=len(swaps))):
                    para[s] = words[w]
                block.append(" ".join(para))
            chunk = "\n\n".join(block) + "\n\n"
            fh.write(chunk)
            written += len(chunk.encode("utf-8"))
    return written


def rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory of ``pid``: (total RSS, the part that maps files) in MB; zeros once it has exited."""
    values = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "RssFile:")):
                    values[line.split(":")[0]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return values.get("VmRSS", 0.0), values.get("RssFile", 0.0)


def train_and_watch(run: Path, steps: int) -> dict:
    cmd = [sys.executable, "-m", "genlab", "train", str(run), "--model", "gpt", "--n-layer", "4", "--n-head", "4",
           "--n-embd", "128", "--block-size", "64", "--dropout", "0", "--batch-size", "16", "--lr", "2e-3",
           "--warmup-steps", "50", "--lr-decay-steps", str(steps), "--max-steps", str(steps),
           "--eval-interval", str(max(steps // 4, 1)), "--device", "cpu", "--quiet", "--overwrite"]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples = []
    while proc.poll() is None:
        samples.append((time.perf_counter() - started, rss_mb(proc.pid)))
        time.sleep(0.5)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"training failed:\n{err[-2000:]}")
    values = [v for _, (v, _) in samples if v > 0]
    files = [f for _, (v, f) in samples if v > 0]
    # "flat": RSS in the second half of training against the first half's peak
    half = len(values) // 2
    return {"peak_rss_mb": max(values), "rss_first_half_max_mb": max(values[:half] or values),
            "rss_second_half_max_mb": max(values[half:] or values), "peak_file_rss_mb": max(files),
            "seconds": time.perf_counter() - started, "samples": len(values),
            "report": out.strip().splitlines()[-2:]}


def prepare(corpus: Path, out: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "genlab", "prepare", "--corpus", str(corpus), "--out", str(out),
                           "--tokenizer", "char", "--unit", "paragraph", "--quiet"], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"prepare failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gb", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--tmp", type=Path, default=Path("/tmp/genlab-bench/train_memory"))
    args = p.parse_args()
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    print(f"load average before: {load}")
    args.tmp.mkdir(parents=True, exist_ok=True)
    try:
        small_run = args.tmp / "small"
        seconds = prepare(DATA, small_run)
        print(f"prepared tinyshakespeare ({DATA.stat().st_size / 1e6:.1f} MB) in {seconds:.1f} s", flush=True)
        small = train_and_watch(small_run, args.steps)
        print(f"1 MB corpus: peak RSS {small['peak_rss_mb']:.0f} MB (of which mapped files "
              f"{small['peak_file_rss_mb']:.0f} MB)", flush=True)

        corpus = args.tmp / "corpus.txt"
        started = time.perf_counter()
        size = generate_corpus(corpus, args.gb)
        print(f"generated {size / 1e9:.2f} GB in {time.perf_counter() - started:.0f} s", flush=True)
        big_run = args.tmp / "big"
        seconds = prepare(corpus, big_run)
        corpus.unlink()
        store_bytes = sum(f.stat().st_size for f in big_run.glob("*.bin"))
        print(f"prepared it in {seconds:.0f} s: {store_bytes / 1e9:.2f} GB of token ids", flush=True)
        big = train_and_watch(big_run, args.steps)
        print(f"{size / 1e9:.2f} GB corpus: peak RSS {big['peak_rss_mb']:.0f} MB "
              f"(first half ≤ {big['rss_first_half_max_mb']:.0f} MB, "
              f"second half ≤ {big['rss_second_half_max_mb']:.0f} MB; mapped files ≤ {big['peak_file_rss_mb']:.0f} MB)")
        print("nanoGPT on tinyshakespeare: 373 MB (reference)")
        print(json.dumps({"corpus_gb": round(size / 1e9, 3), "store_gb": round(store_bytes / 1e9, 3),
                          "peak_rss_mb_small": round(small["peak_rss_mb"]),
                          "peak_rss_mb_big": round(big["peak_rss_mb"]),
                          "rss_big_first_half_mb": round(big["rss_first_half_max_mb"]),
                          "rss_big_second_half_mb": round(big["rss_second_half_max_mb"]),
                          "file_rss_mb_big": round(big["peak_file_rss_mb"]),
                          "prepare_s_big": round(seconds), "steps": args.steps, "nanogpt_peak_rss_mb": 373,
                          "load_before": load}))
    finally:
        shutil.rmtree(args.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
