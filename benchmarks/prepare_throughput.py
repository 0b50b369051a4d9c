"""How fast does ``genlab prepare`` vectorise a large mixed English/Korean corpus, and in how much memory?

Claims checked (issue 2): char prepare ≥ 50 MB/s; byte-level BPE prepare ≥ 2× the throughput of raw
Hugging Face ``tokenizers`` encoding the same text with the same merges, with identical ids; peak RSS
flat in corpus size (prepare runs at two sizes).

The corpus is generated, not downloaded: one document per line, each line a few sentences drawn at
random either from English (the prose of Python's own documentation, ``pydoc_data.topics``) or Korean
(movie reviews from /work/shared/data/nsmc_ratings_train.txt and Korean sentences from
tatoeba_eng_kor.tsv when present, else a small built-in list). Each ``genlab prepare`` runs as a child
process; its peak RSS comes from ``os.wait4`` (that child alone). Times are end to end: interpreter
start, validation scan, tokenizer training, encoding, writing.

    python benchmarks/prepare_throughput.py --sizes 50,200
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path("/work/shared/data")
FILE_BYTES = 16 << 20  # the corpus folder holds files of about this size
KOREAN_FALLBACK = (
    "생성형 인공지능은 새로운 텍스트와 이미지를 만들어 냅니다.",
    "언어 모델은 앞의 단어들을 보고 다음 단어를 예측합니다.",
    "이 영화 정말 재미있었어요. 배우들의 연기가 훌륭했습니다.",
    "오늘은 날씨가 맑아서 공원에 산책을 다녀왔다.",
    "토큰화는 문장을 작은 단위로 나누는 과정입니다.",
    "학습 데이터가 많을수록 모델의 성능이 좋아지는 경향이 있다.",
)


def english_sentences() -> list[str]:
    from pydoc_data.topics import topics

    text = " ".join(topics[k] for k in sorted(topics))
    text = re.sub(r"\s+", " ", text)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 20 <= len(s.strip()) <= 400]


def korean_sentences() -> list[str]:
    out: list[str] = []
    nsmc = DATA / "nsmc_ratings_train.txt"
    if nsmc.is_file():
        for line in nsmc.read_text(encoding="utf-8").splitlines()[1:]:
            parts = line.split("\t")
            if len(parts) == 3 and parts[1].strip():
                out.append(parts[1].strip())
    tatoeba = DATA / "tatoeba_eng_kor.tsv"
    if tatoeba.is_file():
        for line in tatoeba.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 2 and parts[1].strip():
                out.append(parts[1].strip())
    return out or list(KOREAN_FALLBACK)


def generate_corpus(folder: Path, megabytes: float, seed: int = 0) -> int:
    """Write ``megabytes`` of one-document-per-line mixed text into ``folder``; returns its bytes."""
    rng = random.Random(seed)
    en, ko = english_sentences(), korean_sentences()
    folder.mkdir(parents=True, exist_ok=True)
    target = int(megabytes * (1 << 20))
    written, index = 0, 0
    while written < target:
        lines: list[str] = []
        size = 0
        while size < min(FILE_BYTES, target - written):
            pool = en if rng.random() < 0.5 else ko
            line = " ".join(rng.choice(pool) for _ in range(rng.randint(1, 6)))
            lines.append(line)
            size += len(line.encode("utf-8")) + 1
        data = ("\n".join(lines) + "\n").encode("utf-8")
        (folder / f"part-{index:04d}.txt").write_bytes(data)
        written += len(data)
        index += 1
    return written


def run_prepare(corpus: Path, out: Path, tokenizer: str, vocab_size: int, unit: str, seed: int) -> dict:
    """Run ``genlab prepare`` as a child process: wall time and that child's peak RSS."""
    cmd = [sys.executable, "-m", "genlab", "prepare", "--corpus", str(corpus), "--out", str(out),
           "--tokenizer", tokenizer, "--unit", unit, "--seed", str(seed), "--quiet"]
    if tokenizer == "bpe":
        cmd += ["--vocab-size", str(vocab_size)]
    started = time.perf_counter()
    # --quiet: the child writes almost nothing, so its pipes cannot fill while we wait on it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS and CPU time
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"prepare failed ({proc.returncode}): {stderr.strip()}")
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    tokens = sum(s["tokens"] for s in meta["splits"].values())
    mb = meta["corpus"]["file_bytes"] / 2**20
    cpu = usage.ru_utime + usage.ru_stime
    return {"tokenizer": tokenizer, "corpus_mb": round(mb, 1), "seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2), "mb_per_s": round(mb / wall, 2), "mb_per_cpu_s": round(mb / cpu, 2),
            "tokens": tokens, "tokens_per_s": round(tokens / wall), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "phases": meta.get("timings", {}), "engine": meta.get("engine")}


def sample_documents(corpus: Path, megabytes: float) -> list[str]:
    """The corpus's first documents (lines, in the order prepare reads them) up to ``megabytes``."""
    docs: list[str] = []
    budget = int(megabytes * (1 << 20))
    for path in sorted(corpus.glob("*.txt")):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if line.strip():
                    docs.append(line)
                    budget -= len(line.encode("utf-8")) + 1
                    if budget <= 0:
                        return docs
    return docs


def hf_encode_rates(run: Path, docs: list[str]) -> dict:
    """Raw HF ``tokenizers`` on the same text and merges: one call on the joined text, and batched lines."""
    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(str(run / "tokenizer.json"))
    text = "\n".join(docs)
    mb = len(text.encode("utf-8")) / 2**20
    started, cpu = time.perf_counter(), time.process_time()
    hf.encode(text, add_special_tokens=False)
    single, single_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    batch = hf.encode_batch(docs, add_special_tokens=False)
    batched, batched_cpu = time.perf_counter() - started, time.process_time() - cpu
    # genlab's own bulk encoder on the same documents, in the same process and moment
    from genlab.tokenizers import EOS_ID, load

    ours = load(run / "tokenizer.json")
    ours.encode_stream(docs[:100], EOS_ID)  # build the engine outside the timing
    started, cpu = time.perf_counter(), time.process_time()
    ours.encode_stream(docs, EOS_ID, np.uint16)
    genlab_s, genlab_cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"genlab_encode_mb_per_s": round(mb / genlab_s, 2), "genlab_encode_mb_per_cpu_s": round(mb / genlab_cpu, 2),
            "genlab_engine": ours.active_engine,
            "sample_mb": round(mb, 2), "single_call_mb_per_s": round(mb / single, 2),
            "batched_mb_per_s": round(mb / batched, 2), "single_call_mb_per_cpu_s": round(mb / single_cpu, 2),
            "batched_mb_per_cpu_s": round(mb / batched_cpu, 2), "ids": [e.ids for e in batch]}


def store_matches(run: Path, docs: list[str], hf_ids: list[list[int]]) -> bool:
    """Do the store's splits begin with exactly HF's ids for the first documents (each + <eos>)?"""
    from genlab.corpus import assign_splits
    from genlab.tokens import TokenStore

    store = TokenStore(run)
    cfg = store.meta["config"]
    labels = assign_splits(store.meta["corpus"]["documents"], tuple(cfg["split"]), cfg["seed"],
                           shuffle=cfg["shuffle"])
    eos = store.meta["eos_id"]
    expected: dict[int, list[int]] = {0: [], 1: [], 2: []}
    for label, ids in zip(labels[: len(docs)], hf_ids):
        expected[int(label)].extend(ids + [eos])
    for label, name in enumerate(("train", "val", "test")):
        got = np.asarray(store.split(name)[: len(expected[label])], dtype=np.int64)
        if not np.array_equal(got, np.asarray(expected[label], dtype=np.int64)):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200", help="corpus sizes in MB, comma-separated (RSS at each)")
    parser.add_argument("--tokenizers", default="char,bpe")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--unit", default="line", choices=["file", "line", "paragraph"])
    parser.add_argument("--hf-mb", type=float, default=16.0,
                        help="MB of the corpus that raw HF encodes for its MB/s and the identical-ids check")
    parser.add_argument("--workdir", help="where to write corpora and runs (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    kinds = args.tokenizers.split(",")
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="genlab-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; workdir {work}", flush=True)
    results: list[dict] = []
    hf: dict = {}
    try:
        for size in sizes:
            corpus = work / f"corpus-{size:g}mb"
            started = time.perf_counter()
            nbytes = generate_corpus(corpus, size)
            print(f"generated {nbytes / 2**20:.1f} MB corpus in {time.perf_counter() - started:.1f}s", flush=True)
            for kind in kinds:
                out = work / f"run-{kind}-{size:g}mb"
                res = run_prepare(corpus, out, kind, args.vocab_size, args.unit, args.seed)
                print(f"prepare {kind:4s} {res['corpus_mb']:7.1f} MB: {res['seconds']:7.2f}s wall "
                      f"({res['cpu_seconds']:.1f}s CPU)  {res['mb_per_s']:6.2f} MB/s  "
                      f"{res['tokens_per_s']:>11,} tokens/s  peak RSS {res['peak_rss_mb']:.0f} MB  "
                      f"phases {res['phases']}", flush=True)
                results.append(res)
                if kind == "bpe" and size == max(sizes):
                    docs = sample_documents(corpus, args.hf_mb)
                    hf = hf_encode_rates(out, docs)
                    hf["identical_ids"] = store_matches(out, docs, hf.pop("ids"))
                    print(f"raw HF tokenizers on {hf['sample_mb']} MB of the same text: one call "
                          f"{hf['single_call_mb_per_s']} MB/s, batched lines {hf['batched_mb_per_s']} MB/s "
                          f"(per CPU-second {hf['single_call_mb_per_cpu_s']} / {hf['batched_mb_per_cpu_s']}); "
                          f"genlab's encoder ({hf['genlab_engine']}) {hf['genlab_encode_mb_per_s']} MB/s; "
                          f"store ids identical: {hf['identical_ids']}", flush=True)
                shutil.rmtree(out)
            shutil.rmtree(corpus)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    summary: dict = {"benchmark": "prepare_throughput", "unit": args.unit, "vocab_size": args.vocab_size,
                     "cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()], "runs": results}
    for kind in kinds:
        runs = sorted((r for r in results if r["tokenizer"] == kind), key=lambda r: r["corpus_mb"])
        if len(runs) >= 2:
            summary[f"{kind}_rss_growth_mb"] = round(runs[-1]["peak_rss_mb"] - runs[0]["peak_rss_mb"], 1)
        if runs:
            summary[f"{kind}_mb_per_s"] = runs[-1]["mb_per_s"]
            summary[f"{kind}_mb_per_cpu_s"] = runs[-1]["mb_per_cpu_s"]
    if "char_mb_per_s" in summary:
        summary["char_target_50_mb_per_s_met"] = summary["char_mb_per_s"] >= 50
    if hf and "bpe_mb_per_s" in summary:
        summary["hf"] = hf
        summary["bpe_vs_hf_ratio"] = round(summary["bpe_mb_per_s"] / max(hf["single_call_mb_per_s"],
                                                                       hf["batched_mb_per_s"]), 2)
        summary["bpe_vs_hf_cpu_ratio"] = round(summary["bpe_mb_per_cpu_s"] / max(hf["single_call_mb_per_cpu_s"],
                                                                               hf["batched_mb_per_cpu_s"]), 2)
        summary["bpe_target_2x_hf_met"] = summary["bpe_vs_hf_ratio"] >= 2 and hf["identical_ids"]
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    main()
