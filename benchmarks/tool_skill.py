"""Does a fine-tuned char GPT learn *when* and *how* to call the calculator tool of ``builtin:skills``?

1. Pretrain a char GPT (``--preset``, 4 layers × 128, context 128) on NSMC reviews + Tiny Shakespeare for
   ``--pretrain`` seconds, as ``benchmarks/sft.py`` does.
2. Fine-tune it on ``builtin:skills`` (nine skills, one of them the calculator tool) for ``--finetune`` seconds.
3. Answer every test question greedily (no constrained decoding: this measures what the model learned)
   and count, for the calculator questions: answers that are a call, calls of ``calculator``, calls whose
   expression has the question's two numbers, exact calls; for the other skills' questions: answers that
   are a call although no tool is offered (false calls).

Prints a table and a JSON object as its last line.

    python benchmarks/tool_skill.py --pretrain 150 --finetune 400 --clock cpu --threads 1
    python benchmarks/tool_skill.py --work runs/bench-tools --reuse     # score runs made before
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import cpu_model  # a sibling module: benchmarks run as scripts from this folder
from sft import genlab, pretraining_corpus  # noqa: E402

CALL = re.compile(r'\[tool call\] \{"name": "calculator", "arguments": \{"expression": "(\d+)\*(\d+)"\}\}')


def score(run: Path, threads: int) -> dict:
    import torch

    from genlab.models import load_model
    from genlab.tuning.answers import exact_match
    from genlab.tuning.skills import builtin_dataset

    torch.set_num_threads(threads)
    model, tokenizer, _ = load_model(run)
    test = builtin_dataset("skills").test
    calc = [c for c in test if c.skill == "calculator"]
    report = exact_match(model, tokenizer, calc, max_tokens=80)
    answers = [(m.question, m.answer) for m in report.misses]
    calls = [a for _, a in answers if a.startswith("[tool call]")]
    named = [a for a in calls if '"name": "calculator"' in a]
    operands = [q for q, a in answers if (m := CALL.search(a)) and list(m.groups()) == re.findall(r"\d+", q)[:2]]
    others = [c for c in test if c.skill != "calculator"]
    other_report = exact_match(model, tokenizer, others, max_tokens=40)
    false_calls = sum(m.answer.startswith("[tool call]") for m in other_report.misses)
    n = len(calc)
    return {"calculator_questions": n, "answered_with_a_call": (len(calls) + report.correct) / n,
            "called_calculator": (len(named) + report.correct) / n,
            "right_operands": (len(operands) + report.correct) / n, "exact_call": report.correct / n,
            "other_questions": len(others), "false_calls": false_calls / len(others),
            "other_skills_exact": other_report.accuracy}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrain", type=float, default=300, help="seconds of pretraining")
    ap.add_argument("--finetune", type=float, default=600, help="seconds of fine-tuning")
    ap.add_argument("--reviews", type=int, default=150_000, help="NSMC reviews in the pretraining corpus")
    ap.add_argument("--threads", default="1", help="PyTorch threads for every run")
    ap.add_argument("--clock", default="cpu", choices=["wall", "cpu"], help="what the time budgets count")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--preset", default="gpt-tiny-fast", help="the base's recipe (as benchmarks/sft.py's)")
    ap.add_argument("--dtype", default="auto", help="fine-tuning's autocast dtype (auto: bfloat16 where it is faster)")
    ap.add_argument("--work", default="runs/bench-tools", help="scratch folder (runs base/ and sft/)")
    ap.add_argument("--reuse", action="store_true", help="score the runs already in --work")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cpu = cpu_model()
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; threads {args.threads}")
    base, sft = work / "base", work / "sft"
    if not args.reuse:
        corpus = pretraining_corpus(work, args.reviews)
        print(f"1. prepare + pretrain (char GPT, {args.preset}, context 128) for {args.pretrain:.0f} s")
        genlab("prepare", "--corpus", str(corpus), "--unit", "line", "--out", str(base), "--quiet")
        genlab("train", str(base), "--model", "gpt", "--preset", args.preset, "--block-size", "128", "--time-budget",
               str(args.pretrain), "--budget-clock", args.clock, "--seed", args.seed, "--threads", args.threads,
               "--overwrite", "--quiet")
        print(f"2. fine-tune on builtin:skills for {args.finetune:.0f} s")
        genlab("finetune", str(base), "--data", "builtin:skills", "--out", str(sft), "--time-budget",
               str(args.finetune), "--budget-clock", args.clock, "--seed", args.seed, "--threads", args.threads,
               "--dtype", args.dtype, "--overwrite", "--quiet")
    print("3. greedy answers to the test questions")
    result = score(sft, int(args.threads))
    for key, value in result.items():
        print(f"  {key:<24}{value:.3f}" if isinstance(value, float) else f"  {key:<24}{value}")
    print(json.dumps({"cpu": cpu, "preset": args.preset, "pretrain_s": args.pretrain, "finetune_s": args.finetune,
                      "clock": args.clock, "reused": args.reuse, **result}))


if __name__ == "__main__":
    main()
