"""``genlab demo``: the whole course in one command, in a few minutes on a laptop CPU.

Step 1–2: prepare Python's own documentation text (``builtin:pydoc``, no download) as characters;
step 3–4: train a small GPT (``gpt-tiny``) for a fixed time budget; step 5: print its validation
perplexity; then generate a few samples. Each step is the same library call the individual verbs
make, so the demo shows exactly what ``prepare``, ``train``, ``eval`` and ``generate`` do.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from genlab.cli.args import add_device, duration, nonneg_float, nonneg_int, positive_int

MARKER = ".genlab-demo"  # the demo only ever replaces a run directory it made itself
PROMPTS = ("", "The ", "def ")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="prepare → train a small GPT → perplexity → samples, in minutes",
                       description="Prepare builtin:pydoc (characters), train a small GPT for --time-budget, "
                       "print its validation perplexity and generate samples.")
    p.add_argument("--out", default="runs/demo", help="run directory to create (default: runs/demo)")
    p.add_argument("--time-budget", type=duration, default=150.0, help="training time, e.g. 150, 3m (default 150 s)")
    p.add_argument("--preset", default="gpt-tiny", help="model size (default gpt-tiny)")
    p.add_argument("--samples", type=positive_int, default=len(PROMPTS), help="samples to generate")
    p.add_argument("--max-tokens", type=nonneg_int, default=200, help="tokens per sample")
    p.add_argument("--temperature", type=nonneg_float, default=0.8)
    p.add_argument("--seed", type=nonneg_int, default=1337)
    p.add_argument("--eval-tokens", type=positive_int, help="score only the first N validation tokens")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genlab.cli import build_parser
    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.evaluate import perplexity
    from genlab.generate import SamplingConfig, complete
    from genlab.models import load_model
    from genlab.tokens import PrepareConfig, TokenStore, prepare
    from genlab.training.train_cli import train_cli

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise GenlabError(f"{out} exists and was not made by `genlab demo`; choose another --out")
    device = resolve_device(args.device)
    started = time.perf_counter()

    print(f"== 1-2. data: builtin:pydoc → characters → {out}")
    prepare(PrepareConfig(corpus="builtin:pydoc", out=str(out), tokenizer="char", seed=args.seed),
            progress=not args.quiet)
    (out / MARKER).write_text("made by `genlab demo`\n", encoding="utf-8")
    store = TokenStore(out)
    print(f"   vocabulary {store.vocab_size} characters; train {store.stats('train')['tokens']:,} tokens, "
          f"val {store.stats('val')['tokens']:,}")

    print(f"== 3-4. train a GPT ({args.preset}) for {args.time_budget:g} s on {device}")
    flags = ["train", str(out), "--model", "gpt", "--preset", args.preset, "--time-budget", str(args.time_budget),
             "--seed", str(args.seed), "--device", device, "--overwrite"]
    train_cli(build_parser().parse_args(flags + (["--quiet"] if args.quiet else [])))

    print("== 5. evaluate on the validation split (best checkpoint)")
    model, tokenizer, _ = load_model(out, device=device, which="best")
    stats = store.stats("val")
    whole = args.eval_tokens is None
    report = perplexity(model, store.split("val"), max_tokens=args.eval_tokens, device=device,
                        progress=not args.quiet, characters=stats["characters"] if whole else None,
                        nbytes=stats["bytes"] if whole else None)
    for line in report.lines("val"):
        print(f"   {line}")

    print(f"== generate (temperature {args.temperature:g}, seed {args.seed})")
    for i in range(args.samples):
        prompt = PROMPTS[i % len(PROMPTS)]
        cfg = SamplingConfig(max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed + i)
        text = complete(model, tokenizer, prompt, cfg, device=device)[0].text
        print(f"--- sample {i + 1} (prompt {prompt!r}) ---\n{prompt}{text}")
    print(f"== done in {time.perf_counter() - started:.0f} s: val perplexity {report.perplexity:.3f}. Next: "
          f"genlab generate {out} --prompt \"The \" · genlab chat {out} · genlab serve {out}")
    return 0
