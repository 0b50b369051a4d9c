"""``genlab translate RUN``: an encoder–decoder turns source lines into target lines, one per line.

Reads ``--input FILE`` (or stdin, the default) and prints exactly one translation per input line, in
order; from stdin each line is translated as soon as it arrives, so the command works interactively
and in pipes. ``--plot-attention OUT.png`` also draws the source × target attention of the first line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from genlab.beam_defaults import DEFAULT_LENGTH_PENALTY, DEFAULT_MAX_LENGTH_RATIO
from genlab.cli.args import add_device, nonneg_float, positive_int
from genlab.stdin_text import stdin_lines

FILE_BATCH = 32  # lines translated together when reading a file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("translate", help="translate lines with an encoder-decoder run",
                       description="Greedy or beam-search decoding of an rnn-attn or transformer run; "
                       "one output line per input line.")
    p.add_argument("run", help="run directory trained with --model rnn-attn or transformer")
    p.add_argument("--input", default="-", help="file of source lines, or - for stdin (default)")
    p.add_argument("--beam", type=positive_int, default=1, help="beam size (1 = greedy)")
    p.add_argument("--length-penalty", type=nonneg_float, default=DEFAULT_LENGTH_PENALTY,
                   help="beam: GNMT length penalty alpha (0 = rank by log-probability)")
    p.add_argument("--max-length-ratio", type=nonneg_float, default=DEFAULT_MAX_LENGTH_RATIO,
                   help="stop an output at this many tokens per source token (+10)")
    p.add_argument("--plot-attention", metavar="OUT.png", help="draw the attention map of the first line")
    p.add_argument("--which", default="best", choices=["best", "latest"], help="which checkpoint")
    add_device(p)
    p.set_defaults(func=run)


def _file_batches(path: Path) -> Iterator[list[str]]:
    from genlab.errors import GenlabError
    from genlab.pairs import iter_lines

    if not path.is_file():
        raise GenlabError(f"--input {path} not found")
    batch: list[str] = []
    for _, line in iter_lines(path):
        batch.append(line)
        if len(batch) == FILE_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _label(token: str) -> str:
    """A token as a tick label: spaces shown as ␣, control characters escaped."""
    return repr(token)[1:-1].replace(" ", "␣") if token else "∅"


def plot_attention(model, source_tokenizer, target_tokenizer, text: str, out: str, device: str = "cpu",
                   beam_size: int = 1, length_penalty_alpha: float = 0.0) -> None:
    """Translate ``text`` and draw where each output token looked in the source (rows: target tokens)."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from genlab.beam import decode_batch, encode_sources
    from genlab.checkpoint import atomic_write
    from genlab.tokenizers import BOS_ID, EOS_ID

    src = encode_sources(source_tokenizer, [text], device)
    hyp = decode_batch(model, src, beam_size, length_penalty_alpha)[0]
    tgt_in = torch.tensor([[BOS_ID, *hyp.tokens]], device=device)
    with torch.no_grad():
        _, attention = model(src, tgt_in, return_attention=True)  # (1, T, S)
    weights = attention[0].float().cpu().numpy()
    out_ids = hyp.tokens + ([EOS_ID] if hyp.finish_reason == "eos" else [])
    weights = weights[: len(out_ids)]
    src_labels = [source_tokenizer.id_to_token(int(i)) for i in src[0].tolist()]
    tgt_labels = [target_tokenizer.id_to_token(int(i)) for i in out_ids]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(src_labels) + 2), max(3.0, 0.35 * len(tgt_labels) + 1.5)))
    image = ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0)
    ax.set_xticks(range(len(src_labels)), [_label(t) for t in src_labels], rotation=90)
    ax.set_yticks(range(len(tgt_labels)), [_label(t) for t in tgt_labels])
    ax.set_xlabel("source token")
    ax.set_ylabel("output token")
    ax.set_title(f"attention: {text[:40]}")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    with warnings.catch_warnings():  # fonts without Hangul glyphs warn per missing glyph
        warnings.simplefilter("ignore")
        atomic_write(out, lambda tmp: fig.savefig(tmp, format="png", dpi=120), flag="--plot-attention")
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from genlab.beam import translate_texts
    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.models import load_model
    from genlab.models.registry import command_for, run_kind
    from genlab.pairs import PairStore

    device = resolve_device(args.device)
    model, target_tokenizer, config = load_model(args.run, device=device, which=args.which)
    if not getattr(model, "is_seq2seq", False):
        raise GenlabError(f"{args.run} holds {run_kind(config)}, not an encoder-decoder: use "
                          f"`{command_for(args.run, config)}`")
    source_tokenizer = PairStore(args.run).source_tokenizer
    batches = ([line] for line in stdin_lines()) if args.input == "-" else _file_batches(Path(args.input))
    first: str | None = None
    out = sys.stdout
    for batch in batches:
        todo = [i for i, line in enumerate(batch) if line.strip()]
        results = [""] * len(batch)  # a blank line stays blank, so output lines match input lines
        if todo:
            texts = translate_texts(model, source_tokenizer, target_tokenizer, [batch[i].strip() for i in todo],
                                    beam_size=args.beam, length_penalty_alpha=args.length_penalty,
                                    max_length_ratio=args.max_length_ratio, device=device)
            for i, text in zip(todo, texts):
                results[i] = text
            if first is None:
                first = batch[todo[0]].strip()
        for text in results:
            out.write(text.replace("\n", " ") + "\n")
        out.flush()
    if args.plot_attention:
        if first is None:
            raise GenlabError("--plot-attention needs at least one non-empty input line")
        plot_attention(model, source_tokenizer, target_tokenizer, first, args.plot_attention, device=device,
                       beam_size=args.beam, length_penalty_alpha=args.length_penalty)
        print(f"attention map of {first!r} written to {args.plot_attention}", file=sys.stderr)
    return 0
