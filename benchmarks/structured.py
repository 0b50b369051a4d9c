"""Structured outputs: what constrained decoding costs, and whether every answer validates.

Two runs, a char one and a byte-level BPE one (vocab 512), each a 6-layer, 6-head, 384-wide GPT
(block 256, as ``generate_speed.py`` uses) trained briefly by genlab on a synthetic corpus of JSON
records and English/Korean sentences, so the model half-knows JSON and the constraint has work to do.

1. Speed, batch 1: the same model, prompt and seed decode with a JSON schema (through
   ``genlab.generate.complete``, masks from llguidance) and without one, for the same number of
   tokens (the unconstrained side decodes exactly as many as the constrained answer had), interleaved,
   ``--repeats`` times; tokens/s are medians. Target: the constrained side loses ≤ 20 %.
2. Validity: ``--samples`` answers per run and temperature (0.5, 1.0, 1.5 by default) under a schema
   with nested objects, arrays, enums, integers, numbers, booleans and optional fields; each answer
   that ends by itself (``finish_reason == "stop"``) is parsed and checked with ``jsonschema``.
   Target: 100 % valid.

Timings on a shared machine are noisy: the CPU model and the load average are printed with them.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from machine import cpu_model  # a sibling module: benchmarks run as scripts from this folder

DIMS = {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256}
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 30},
        "weight": {"type": "number"},
        "indoor": {"type": "boolean"},
        "kind": {"enum": ["cat", "dog", "bird", "고양이"]},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 8}, "maxItems": 3},
        "owner": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                                   "city": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
                  "required": ["name", "city"], "additionalProperties": False},
        "note": {"type": "string", "maxLength": 20},
    },
    "required": ["name", "age", "indoor", "kind", "owner"],
    "additionalProperties": False,
}
NAMES = ["Nabi", "Bori", "Coco", "Max", "Luna", "Kong", "Milo", "Toto", "나비", "보리", "초코"]
CITIES = ["Seoul", "Busan", "Paris", "Lima", None]
SENTENCES = ["The cat sat on the mat.", "A dog ran in the park.", "고양이가 매트 위에 앉았다.",
             "오늘 날씨가 좋습니다.", "Hello world, this is genlab."]


def corpus(path: Path, records: int, seed: int) -> None:
    """JSON records in the schema's layout (``json.dumps``), one per line, between plain sentences."""
    rng = random.Random(seed)
    lines = []
    for _ in range(records):
        rec = {"name": rng.choice(NAMES), "age": rng.randint(0, 20), "weight": round(rng.uniform(0.5, 40), 1),
               "indoor": rng.random() < 0.5, "kind": rng.choice(SCHEMA["properties"]["kind"]["enum"]),
               "tags": rng.sample(["cute", "old", "small", "loud", "calm"], rng.randint(0, 3)),
               "owner": {"name": rng.choice(NAMES), "city": rng.choice(CITIES)}}
        if rng.random() < 0.3:
            rec["note"] = rng.choice(SENTENCES)[:20]
        lines.append(json.dumps(rec, ensure_ascii=False))
        if rng.random() < 0.3:
            lines.append(rng.choice(SENTENCES))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_run(root: Path, name: str, tokenizer: list[str], seconds: float, threads: int) -> Path:
    """``genlab prepare`` the corpus, then fit the 6L/384d GPT for ``seconds`` (kept if already there)."""
    from genlab.cli import main as genlab
    from genlab.models.gpt import GPTConfig, model_config_dict
    from genlab.training.config import TrainConfig
    from genlab.training.lm_task import LanguageModelTask
    from genlab.training.loop import fit

    run = root / name
    if (run / "model.safetensors").is_file():
        return run
    if genlab(["prepare", "--corpus", str(root / "corpus.txt"), "--unit", "line", "--out", str(run), "--quiet",
               *tokenizer]) != 0:
        raise SystemExit(f"genlab prepare failed for {name}")
    task = LanguageModelTask(run, "gpt")
    model_cfg = model_config_dict(GPTConfig(vocab_size=task.store.vocab_size, dropout=0.0, **DIMS))
    cfg = TrainConfig(batch_size=8, lr=1e-3, min_lr=1e-4, warmup_steps=20, time_budget=seconds, eval_interval=10**6,
                      eval_batches=2, device="cpu", threads=threads, seed=1337)
    result = fit(task, cfg, run, model_cfg, progress=False)
    print(f"{name}: trained {result.steps} steps in {result.elapsed:.0f} s, val loss {result.last_val_loss:.3f}",
          flush=True)
    return run


def speed(model, tok, repeats: int, max_tokens: int) -> dict:
    """Median tokens/s at batch 1 with and without the schema, over the same number of tokens."""
    from genlab.generate import SamplingConfig, complete
    from genlab.structured import json_schema_grammar

    grammar = json_schema_grammar(SCHEMA)
    complete(model, tok, "", SamplingConfig(max_tokens=8, seed=0, grammar=grammar))  # warm both paths up
    complete(model, tok, "", SamplingConfig(max_tokens=8, seed=0))
    free_runs, constrained_runs, lengths = [], [], []
    answer: list[int] = []
    for r in range(repeats):
        cfg = SamplingConfig(max_tokens=max_tokens, temperature=1.0, seed=100 + r, grammar=grammar)
        started = time.perf_counter()
        out = complete(model, tok, "", cfg)[0]
        constrained = time.perf_counter() - started
        n = len(out.tokens)
        answer = [t.id for t in out.tokens]
        free = SamplingConfig(max_tokens=n, temperature=1.0, seed=100 + r, stop_at_eos=False)
        started = time.perf_counter()
        same = complete(model, tok, "", free)[0]
        unconstrained = time.perf_counter() - started
        assert len(same.tokens) == n
        constrained_runs.append(n / constrained)
        free_runs.append(n / unconstrained)
        lengths.append(n)
    c, f = statistics.median(constrained_runs), statistics.median(free_runs)
    cost = constraint_cost(model, tok, grammar, answer)
    return {"constrained_tok_s": round(c, 1), "unconstrained_tok_s": round(f, 1), "overhead": round(1 - c / f, 4),
            "constraint_us_per_token": round(cost * 1e6, 1), "model_step_ms": round(step_time(model) * 1e3, 2),
            "tokens_per_answer": statistics.median(lengths),
            "runs": {"constrained": [round(v, 1) for v in constrained_runs],
                     "unconstrained": [round(v, 1) for v in free_runs]}}


def constraint_cost(model, tok, grammar, answer: list[int]) -> float:
    """Seconds per token spent on the constraint alone (mask, renormalised scores, advance), replaying ``answer``.

    Far less noisy than a difference of two timings on a shared machine.
    """
    from genlab.generate import constrained_logprobs, grammar_masks
    from genlab.structured import grammar_constraint

    vocab = int(getattr(model, "vocab_size", tok.vocab_size))
    logprobs = torch.randn(1, vocab).log_softmax(-1)
    best = float("inf")
    for _ in range(3):
        constraint = grammar_constraint(tok, grammar)
        started = time.perf_counter()
        for t in answer:
            constrained_logprobs(logprobs, grammar_masks([constraint], vocab, logprobs.device))
            if t in constraint.end_ids:
                break
            constraint.advance(t)
        best = min(best, (time.perf_counter() - started) / max(1, len(answer)))
    return best


def step_time(model, steps: int = 50) -> float:
    """Seconds per batch-1 decoding step of the model alone (median of three runs of ``steps``)."""
    from genlab.tokenizers import EOS_ID

    times = []
    with torch.inference_mode():
        for _ in range(3):
            state = model.start(1)
            token = torch.tensor([EOS_ID])
            _, state = model.step(token, state)
            started = time.perf_counter()
            for _ in range(steps):
                _, state = model.step(token, state)
            times.append((time.perf_counter() - started) / steps)
    return statistics.median(times)


def validity(model, tok, samples: int, temperature: float, batch: int, max_tokens: int, seed: int) -> dict:
    import jsonschema

    from genlab.generate import SamplingConfig, complete
    from genlab.structured import json_schema_grammar

    grammar = json_schema_grammar(SCHEMA)
    stopped = valid = 0
    failures: list[str] = []
    done = 0
    while done < samples:
        num = min(batch, samples - done)
        cfg = SamplingConfig(max_tokens=max_tokens, temperature=temperature, seed=seed + done, grammar=grammar)
        for c in complete(model, tok, "", cfg, num=num):
            if c.finish_reason != "stop":
                continue
            stopped += 1
            try:
                jsonschema.validate(json.loads(c.text), SCHEMA)
                valid += 1
            except (ValueError, jsonschema.ValidationError) as exc:
                failures.append(f"{c.text!r}: {exc}")
        done += num
    return {"samples": samples, "stopped": stopped, "valid": valid,
            "valid_fraction": round(valid / stopped, 4) if stopped else None, "failures": failures[:3]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, default=Path("/tmp/genlab-bench/structured"),
                   help="where the corpus and the two runs go (runs already there are reused)")
    p.add_argument("--records", type=int, default=3000)
    p.add_argument("--train-seconds", type=float, default=90)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--speed-tokens", type=int, default=200, help="max tokens of a constrained answer when timing")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.5, 1.0, 1.5])
    p.add_argument("--max-tokens", type=int, default=160, help="per validity sample")
    p.add_argument("--batch", type=int, default=50, help="validity samples decoded together")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cpu = cpu_model()
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()}; {args.threads} thread(s)", flush=True)
    args.root.mkdir(parents=True, exist_ok=True)
    if not (args.root / "corpus.txt").is_file():
        corpus(args.root / "corpus.txt", args.records, seed=0)
    from genlab.models import load_model

    summary: dict = {"cpu": cpu, "threads": args.threads, "dims": DIMS, "speed": {}, "validity": {}}
    for name, tokenizer in [("char", ["--tokenizer", "char"]),
                            ("bpe", ["--tokenizer", "bpe", "--vocab-size", "512"])]:
        run = make_run(args.root, name, tokenizer, args.train_seconds, args.threads)
        model, tok, _ = load_model(run, device="cpu", which="latest")
        model.eval()
        load_before = os.getloadavg()[0]
        result = speed(model, tok, args.repeats, args.speed_tokens)
        result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        result["vocab_size"] = tok.vocab_size
        summary["speed"][name] = result
        print(f"{name} (vocab {tok.vocab_size}) batch 1: constrained {result['constrained_tok_s']} tok/s, "
              f"unconstrained {result['unconstrained_tok_s']} tok/s → overhead {result['overhead']:.1%} "
              f"({result['tokens_per_answer']} tokens per answer); the constraint alone costs "
              f"{result['constraint_us_per_token']} µs per token against a {result['model_step_ms']} ms model step "
              f"({result['constraint_us_per_token'] / 1e3 / result['model_step_ms']:.1%})", flush=True)
        summary["validity"][name] = {}
        for t in args.temperatures:
            v = validity(model, tok, args.samples, t, args.batch, args.max_tokens, seed=1000)
            summary["validity"][name][str(t)] = v
            print(f"{name} T={t}: {v['stopped']}/{v['samples']} stopped by themselves, {v['valid']} valid"
                  + (f"; first failure {v['failures'][0]}" if v["failures"] else ""), flush=True)
    all_valid = all(v["valid"] == v["stopped"] and v["stopped"] > 0
                    for per_run in summary["validity"].values() for v in per_run.values())
    worst = max(s["overhead"] for s in summary["speed"].values())
    worst_share = max(s["constraint_us_per_token"] / 1e3 / s["model_step_ms"] for s in summary["speed"].values())
    summary["targets"] = {"all_stopped_answers_valid": all_valid, "worst_overhead": worst,
                          "overhead_within_20pct": worst <= 0.20,
                          "worst_constraint_share_of_step": round(worst_share, 4)}
    summary["load_average_end"] = round(os.getloadavg()[0], 2)
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
