"""Decoding speed: genlab's generation loop against Hugging Face ``GPT2LMHeadModel.generate``.

Same model on both sides: a 6-layer, 6-head, 384-wide GPT (block 256) trained briefly by genlab on
tinyshakespeare characters, whose weights are copied into a ``transformers`` GPT-2 of the same
dimensions (exact GELU, like genlab's) — so both decode the same function, and the greedy tokens
are compared as a parity check. Each system generates 200 new tokens greedily from a 10-token
prompt (after the ``<eos>`` that starts a document), with its KV cache, at batch 1 and batch 8;
genlab is timed through ``genlab.generate.complete`` (the loop behind ``genlab generate`` and the
server, text decoding included). Every figure is the median of ``--repeats`` runs, genlab and HF
interleaved, at 1 and at 2 PyTorch threads; the ratios use each system's faster thread setting.

``--quantize int8`` (:mod:`genlab.quantize`) is measured the same way, and its perplexity on the val
split is compared with float32's; so is ``--dtype bfloat16`` (:mod:`genlab.inference_dtype`) where the
CPU computes bfloat16 natively (AVX-512 BF16 or AMX; elsewhere it is left out and the JSON's
``bfloat16`` is null). Reference figures (../shared/data/REFERENCE.md): HF 94 tok/s at batch 1
and 298 at batch 8 on a loaded machine; the bare per-token weight matmuls cap float32 at ~216 tok/s.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shakespeare_char import DATA, build_store  # noqa: E402  (a sibling benchmark script)

DIMS = {"n_layer": 6, "n_head": 6, "n_embd": 384, "block_size": 256}


def train_model(run: Path, seconds: float, threads: int | None) -> None:
    """Fit the 6L/384d GPT for a short time budget (enough for a meaningful perplexity comparison)."""
    from genlab.models.gpt import GPTConfig, model_config_dict
    from genlab.training.config import TrainConfig
    from genlab.training.lm_task import LanguageModelTask
    from genlab.training.loop import fit

    task = LanguageModelTask(run, "gpt")
    model_cfg = model_config_dict(GPTConfig(vocab_size=task.store.vocab_size, dropout=0.0, **DIMS))
    cfg = TrainConfig(batch_size=8, lr=1e-3, min_lr=1e-4, warmup_steps=20, time_budget=seconds, eval_interval=10**6,
                      eval_batches=4, device="cpu", threads=threads, seed=1337)
    result = fit(task, cfg, run, model_cfg, progress=True)
    print(f"trained {result.steps} steps in {result.elapsed:.0f} s: val loss {result.last_val_loss:.3f}")


def to_hf(model) -> torch.nn.Module:
    """A ``transformers`` GPT-2 with the same dimensions and weights (Conv1D stores W transposed)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    c = model.config
    hf_cfg = GPT2Config(vocab_size=c.vocab_size, n_positions=c.block_size, n_embd=c.n_embd, n_layer=c.n_layer,
                        n_head=c.n_head, activation_function="gelu", resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, bos_token_id=2, eos_token_id=3, pad_token_id=0)
    hf = GPT2LMHeadModel(hf_cfg)
    ours = model.state_dict()
    theirs = {}
    for name, tensor in ours.items():
        if name.startswith("lm_head"):
            continue  # tied to wte on both sides
        key = name
        if name.endswith((".c_attn.weight", ".c_proj.weight", ".c_fc.weight")):
            tensor = tensor.t().contiguous()
        theirs[key] = tensor
    missing, unexpected = hf.load_state_dict(theirs, strict=False)
    missing = [m for m in missing if not m.endswith((".attn.bias", ".attn.masked_bias", "lm_head.weight"))]
    if missing or unexpected:
        raise RuntimeError(f"weight mapping failed: missing {missing[:3]}, unexpected {unexpected[:3]}")
    hf.tie_weights()
    return hf.eval()


def genlab_speed(model, tokenizer, prompt: list[int], batch: int, new: int) -> tuple[float, list[int]]:
    from genlab.generate import SamplingConfig, complete

    cfg = SamplingConfig(max_tokens=new, temperature=0, stop_at_eos=False)
    started = time.perf_counter()
    out = complete(model, tokenizer, prompt, cfg, num=batch)
    seconds = time.perf_counter() - started
    assert all(len(c.tokens) == new for c in out)
    return batch * new / seconds, [t.id for t in out[0].tokens]


def hf_speed(hf, prompt: list[int], batch: int, new: int) -> tuple[float, list[int]]:
    from genlab.tokenizers import EOS_ID

    ids = torch.tensor([[EOS_ID, *prompt]] * batch)
    with torch.inference_mode():
        started = time.perf_counter()
        out = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                          do_sample=False, pad_token_id=0)
        seconds = time.perf_counter() - started
    assert out.shape[1] == ids.shape[1] + new
    return batch * new / seconds, out[0, ids.shape[1]:].tolist()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--run", type=Path, default=Path("/tmp/genlab-bench/generate_speed"),
                   help="run directory (trained first unless it already holds weights)")
    p.add_argument("--train-seconds", type=float, default=120)
    p.add_argument("--new-tokens", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--ppl-tokens", type=int, default=30000, help="val tokens scored for the int8 perplexity check")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    import transformers

    transformers.logging.set_verbosity_error()
    from genlab.evaluate import perplexity
    from genlab.inference_dtype import cast_for_inference, cpu_has_native_bfloat16
    from genlab.models.gpt import load as load_gpt
    from genlab.quantize import quantize_int8
    from genlab.tokens import TokenStore

    with open("/proc/loadavg") as fh:
        print(f"load average: {fh.read().strip()} (2 cores; other jobs may share them)")
    run = args.run
    if not (run / "model.safetensors").is_file():
        build_store(args.data, run)
        train_model(run, args.train_seconds, None)
    store = TokenStore(run)
    tok = store.tokenizer
    model = load_gpt(run, json.loads((run / "config.json").read_text()), which="latest")
    q8 = quantize_int8(model)
    bf16 = cast_for_inference(copy.deepcopy(model), "bfloat16", "cpu") if cpu_has_native_bfloat16() else None
    hf = to_hf(model)
    prompt = tok.encode("ROMEO:\nWha")[:10]
    assert len(prompt) == 10
    print(f"model: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, vocab {tok.vocab_size}; "
          f"transformers {transformers.__version__}, torch {torch.__version__}")

    # parity: the same weights decode the same greedy tokens
    torch.set_num_threads(1)
    _, ours = genlab_speed(model, tok, prompt, 1, args.new_tokens)
    _, theirs = hf_speed(hf, prompt, 1, args.new_tokens)
    agree = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), len(ours))
    print(f"parity: genlab and HF greedy tokens agree for the first {agree} of {len(ours)} tokens")
    print(f"sample: {tok.decode(prompt)!r} → {tok.decode(ours[:60])!r}")

    results: dict[tuple[str, int, int], float] = {}
    systems = {"genlab": lambda b: genlab_speed(model, tok, prompt, b, args.new_tokens)[0],
               "genlab-int8": lambda b: genlab_speed(q8, tok, prompt, b, args.new_tokens)[0],
               "hf": lambda b: hf_speed(hf, prompt, b, args.new_tokens)[0]}
    if bf16 is not None:
        systems["genlab-bf16"] = lambda b: genlab_speed(bf16, tok, prompt, b, args.new_tokens)[0]
    for threads in args.threads:
        torch.set_num_threads(threads)
        for batch in (1, 8):
            runs: dict[str, list[float]] = {name: [] for name in systems}
            for _ in range(args.repeats):
                for name, fn in systems.items():  # interleaved, so load changes hit every system alike
                    runs[name].append(fn(batch))
            for name, values in runs.items():
                results[(name, batch, threads)] = statistics.median(values)
                print(f"threads {threads} batch {batch}: {name:12s} {statistics.median(values):7.0f} tok/s "
                      f"(runs: {', '.join(f'{v:.0f}' for v in values)})", flush=True)

    def best(name: str, batch: int) -> tuple[float, int]:
        return max((results[(name, batch, t)], t) for t in args.threads)

    torch.set_num_threads(max(args.threads))
    val = store.split("val")
    ppl32 = perplexity(model, val, window=256, batch_size=16, max_tokens=args.ppl_tokens).perplexity
    ppl8 = perplexity(q8, val, window=256, batch_size=16, max_tokens=args.ppl_tokens).perplexity
    delta = ppl8 / ppl32 - 1
    print(f"val perplexity over {args.ppl_tokens:,} tokens: float32 {ppl32:.4f}, int8 {ppl8:.4f} ({delta:+.2%})")
    summary: dict = {"bfloat16": None if bf16 is None else {}}
    if bf16 is not None:
        ppl16 = perplexity(bf16, val, window=256, batch_size=16, max_tokens=args.ppl_tokens).perplexity
        print(f"val perplexity: bfloat16 {ppl16:.4f} ({ppl16 / ppl32 - 1:+.2%} against float32)")
        summary["bfloat16"]["ppl"] = round(ppl16, 4)
        summary["bfloat16"]["ppl_delta"] = round(ppl16 / ppl32 - 1, 5)

    for batch in (1, 8):
        g, gt = best("genlab", batch)
        q, qt = best("genlab-int8", batch)
        h, ht = best("hf", batch)
        suffix = "" if batch == 1 else "_b8"
        summary.update({f"genlab_tok_s{suffix}": round(g), f"hf_tok_s{suffix}": round(h),
                        f"ratio{suffix}": round(g / h, 2), f"int8_tok_s{suffix}": round(q),
                        f"int8_ratio{suffix}": round(q / h, 2),
                        f"threads{suffix}": {"genlab": gt, "int8": qt, "hf": ht}})
        print(f"batch {batch}: genlab {g:.0f} tok/s ({gt} threads), int8 {q:.0f} ({qt}), HF {h:.0f} ({ht}) → "
              f"{g / h:.2f}× and {q / h:.2f}× HF")
        if bf16 is not None:
            b, bt = best("genlab-bf16", batch)
            summary["bfloat16"].update({f"tok_s{suffix}": round(b), f"ratio{suffix}": round(b / h, 2)})
            print(f"batch {batch}: genlab bfloat16 {b:.0f} tok/s ({bt} threads) → {b / h:.2f}× HF")
    summary.update({"int8_ppl_delta": round(delta, 5), "ppl_float32": round(ppl32, 4), "ppl_int8": round(ppl8, 4),
                    "parity_tokens": agree, "new_tokens": args.new_tokens, "vocab_size": tok.vocab_size,
                    "hf_reference_tok_s": 94, "hf_reference_tok_s_b8": 298, "float32_floor_tok_s": 216})
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
