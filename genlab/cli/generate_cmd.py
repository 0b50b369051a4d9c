"""``genlab generate RUN``: sample text from any trained language model, streamed as it comes."""

from __future__ import annotations

import argparse
import sys

from genlab.cli.args import add_device, nonneg_float, nonneg_int, positive_int, probability


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-tokens", type=nonneg_int, default=200)
    p.add_argument("--temperature", type=nonneg_float, default=0.8, help="0 = greedy")
    p.add_argument("--top-k", type=positive_int)
    p.add_argument("--top-p", type=probability)
    p.add_argument("--seed", type=nonneg_int, help="same seed, same text")
    p.add_argument("--stop", action="append", default=[], help="stop when this text appears (repeatable)")
    structured = p.add_mutually_exclusive_group()
    structured.add_argument("--json-schema", metavar="FILE",
                            help="constrain the output to JSON valid under this JSON Schema (structured output)")
    structured.add_argument("--json", action="store_true", help="constrain the output to one JSON object")
    p.add_argument("--which", default="best", choices=["best", "latest"], help="which checkpoint")
    p.add_argument("--quantize", choices=["none", "int8"], default="none",
                   help="int8: int8 weights with per-call activation quantization (CPU, neural models)")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32",
                   help="store the weights in 16 bits for decoding (bfloat16: CPUs with AVX-512 BF16 or AMX; GPUs)")
    add_device(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate text from a trained run",
                       description="Sample from any language model: greedy, temperature, top-k, top-p, seed.")
    p.add_argument("run", help="run directory")
    p.add_argument("--prompt", default="", help="text to continue (default: start of a document)")
    p.add_argument("--num", type=positive_int, default=1, help="number of samples")
    p.add_argument("--format", choices=["text", "jsonl"], default="text",
                   help="jsonl: one JSON object per sample ({text, tokens, finish_reason, index, prompt}) for scripts")
    add_sampling_args(p)
    p.set_defaults(func=run)


def load_for_generation(args: argparse.Namespace):
    from genlab.devices import resolve_device
    from genlab.errors import GenlabError
    from genlab.models import load_model
    from genlab.models.registry import refuse_non_generative

    device = resolve_device(args.device)
    model, tokenizer, config = load_model(args.run, device=device, which=args.which)
    refuse_non_generative(args.run, config)  # before anything is printed, or `genlab chat` reads a line
    if getattr(model, "is_seq2seq", False):
        raise GenlabError(f"{args.run} is an encoder-decoder model: use `genlab translate {args.run}`")
    if args.quantize == "int8":
        from genlab.quantize import quantize_int8

        model = quantize_int8(model)
    if getattr(args, "dtype", "float32") != "float32":
        from genlab.inference_dtype import cast_for_inference

        model = cast_for_inference(model, args.dtype, device)
    return model, tokenizer, device


def sampling_config(args: argparse.Namespace):
    from genlab.generate import SamplingConfig

    return SamplingConfig(max_tokens=args.max_tokens, temperature=args.temperature, top_k=args.top_k,
                          top_p=args.top_p, seed=args.seed, stop=tuple(args.stop), grammar=output_grammar(args))


def output_grammar(args: argparse.Namespace):
    """The grammar ``--json-schema FILE`` or ``--json`` asks for (None: free text)."""
    if getattr(args, "json", False):
        from genlab.structured import json_object_grammar

        return json_object_grammar()
    path = getattr(args, "json_schema", None)
    if path is None:
        return None
    import json
    from pathlib import Path

    from genlab.errors import GenlabError
    from genlab.structured import json_schema_grammar

    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise GenlabError(f"--json-schema {path}: cannot read it ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GenlabError(f"--json-schema {path} is not a JSON file: {exc}") from None
    try:
        return json_schema_grammar(schema, Path(path).stem)
    except GenlabError as exc:
        raise GenlabError(f"--json-schema {path}: {exc}") from None


def exact_chain_samples(model, tokenizer, prompt: str, cfg, num: int) -> list[str] | None:
    """Continuations of ``prompt`` from a Markov chain's own sampler, or None where it does not apply.

    At temperature 1 with no top-k, top-p or stop text, sampling a chain needs no dense ``[B, V]`` row:
    ``MarkovChain.sample`` draws each token with one uniform and a few binary searches, which is what
    lets plain ``genlab generate`` on a chain outpace markovify. Other settings use the shared loop.
    """
    from genlab.tokenizers import EOS_ID

    plain = cfg.temperature == 1.0 and cfg.top_k is None and cfg.top_p in (None, 1.0) and not cfg.stop \
        and cfg.grammar is None
    if not plain or not callable(getattr(model, "sample", None)) or cfg.max_tokens == 0:
        return None
    rows = model.sample(num, max_tokens=cfg.max_tokens, seed=cfg.seed, prompt=tokenizer.encode(prompt))
    return [tokenizer.decode([int(t) for t in row if t != EOS_ID]) for row in rows]


def run(args: argparse.Namespace) -> int:
    from genlab.generate import complete, stream

    model, tokenizer, device = load_for_generation(args)
    cfg = sampling_config(args)
    out = sys.stdout
    if args.format == "jsonl":
        import json

        for i, c in enumerate(complete(model, tokenizer, args.prompt, cfg, num=args.num, device=device)):
            out.write(json.dumps({"index": i, "prompt": args.prompt, "text": c.text, "tokens": len(c.tokens),
                                  "finish_reason": c.finish_reason, "seed": args.seed}, ensure_ascii=False) + "\n")
        return 0
    texts = exact_chain_samples(model, tokenizer, args.prompt, cfg, args.num)
    if texts is not None:
        for i, text in enumerate(texts):
            head = "" if args.num == 1 else ("\n" if i else "") + f"--- sample {i + 1} ---\n"
            out.write(f"{head}{args.prompt}{text}\n")
        return 0
    if args.num == 1:
        out.write(args.prompt)
        for delta in stream(model, tokenizer, args.prompt, cfg, num=1, device=device):
            out.write(delta.text)
            out.flush()
        out.write("\n")
        return 0
    for i, c in enumerate(complete(model, tokenizer, args.prompt, cfg, num=args.num, device=device)):
        if i:
            out.write("\n")
        out.write(f"--- sample {i + 1} ---\n{args.prompt}{c.text}\n")
    return 0
