"""``genlab chat RUN``: an interactive prompt loop in the terminal, using the shared chat template."""

from __future__ import annotations

import argparse
import sys

from genlab.cli.generate_cmd import add_sampling_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="talk to a trained language model in the terminal",
                       description="Type a message, the model answers (streamed). Ctrl-D or /exit quits; "
                       "/reset forgets the conversation.")
    p.add_argument("run", help="run directory")
    p.add_argument("--system", help="a system message placed first")
    add_sampling_args(p)
    p.set_defaults(func=run, max_tokens=120)


def run(args: argparse.Namespace) -> int:
    from genlab import chat
    from genlab.cli.generate_cmd import load_for_generation, sampling_config
    from genlab.generate import stream

    model, tokenizer, device = load_for_generation(args)
    from genlab.checkpoint import read_config, run_dir

    config = read_config(run_dir(args.run))
    cfg = sampling_config(args)
    stops = tuple(cfg.stop)
    history: list[dict] = [{"role": "system", "content": args.system}] if args.system else []
    if sys.stdin is None:  # started with stdin closed: nothing to read, as at end of input
        return 0
    interactive = sys.stdin.isatty()
    while True:
        if interactive:
            sys.stdout.write("you> ")
            sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            break
        text = line.rstrip("\n")
        if text.strip() in ("/exit", "/quit"):
            break
        if text.strip() == "/reset":
            history = history[:1] if args.system else []
            continue
        if not text.strip():
            continue
        history.append({"role": "user", "content": text})
        sys.stdout.write("model> ")
        reply = []
        turn = chat.chat_prompt(history, tokenizer, config)
        cfg.stop, cfg.stop_ids = tuple(stops) + turn.stop, turn.stop_ids
        for delta in stream(model, tokenizer, turn.prompt, cfg, num=1, device=device):
            sys.stdout.write(delta.text)
            sys.stdout.flush()
            reply.append(delta.text)
        sys.stdout.write("\n")
        history.append({"role": "assistant", "content": "".join(reply).strip()})
    return 0
