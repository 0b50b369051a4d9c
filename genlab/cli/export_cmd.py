"""``genlab export RUN --format hf|gguf --out PATH``: a trained GPT for transformers, vLLM, TGI, llama.cpp, Ollama."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a trained GPT run as a Hugging Face folder or a GGUF file",
                       description="--format hf: a folder transformers loads with GPT2LMHeadModel.from_pretrained "
                       "and AutoTokenizer.from_pretrained (also vLLM, TGI). --format gguf: one file llama.cpp and "
                       "Ollama run (byte-level BPE runs).")
    p.add_argument("run", metavar="RUN", help="a run trained with --model gpt")
    p.add_argument("--format", required=True, choices=["hf", "gguf"], help="hf: a folder; gguf: one file")
    p.add_argument("--out", required=True, help="the folder (hf) or file, e.g. model.gguf (gguf) to write: new, "
                   "empty, or an earlier genlab export (never a run or other files, which are left untouched)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genlab.errors import GenlabError

    if args.format == "gguf":
        try:
            import gguf  # noqa: F401

            from genlab.export.gguf import export_gguf, gguf_context
        except ModuleNotFoundError as exc:
            raise GenlabError(f"--format gguf needs the gguf package ({exc.name} is missing): pip install gguf") \
                from None
        out = export_gguf(args.run, args.out)
        block = gguf_context(out)
        # learned positions end at the run's --block-size: llama.cpp aborts on a position past it (measured with
        # llama-cpp-python 0.3.36: GGML_ASSERT in get_rows), so the hint sizes the window to the model
        print(f"wrote {out}; run it with: llama-cli -m {out} -c {block} -n {block // 2} -p 'Once upon a time' "
              f"(the model's context is {block} tokens: keep prompt + -n within it; Ollama: PARAMETER num_ctx {block})")
        return 0
    from genlab.export.hf import export_hf

    out = export_hf(args.run, args.out)
    print(f"wrote {out}/ (config.json, model.safetensors, tokenizer.json); load it with "
          f"transformers.GPT2LMHeadModel.from_pretrained({str(out)!r})")
    return 0
