"""``genlab export --format gguf``: the file llama.cpp's ``gpt2`` loader expects, read back with ``gguf``.

When ``llama-cpp-python`` is installed, llama.cpp itself loads the file and must pick the same greedy
tokens as genlab for 64 steps (a GPT-2 imported from transformers: tanh GELU, as llama.cpp computes).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from genlab.cli import main as genlab_main
from genlab.export.gguf import gguf_context
from genlab.generate import SamplingConfig, complete
from genlab.models import load_model
from genlab.tokenizers import SPECIAL_TOKENS

gguf = pytest.importorskip("gguf")

#: what llama.cpp's gpt2 loader reads (llama-model.cpp, LLM_ARCH_GPT2) and its BPE vocabulary needs
REQUIRED_KEYS = ["general.architecture", "gpt2.context_length", "gpt2.embedding_length", "gpt2.feed_forward_length",
                 "gpt2.block_count", "gpt2.attention.head_count", "gpt2.attention.layer_norm_epsilon",
                 "tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                 "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"]


def _value(reader, key: str):
    field = reader.fields[key]
    if field.types[0] == gguf.GGUFValueType.ARRAY:
        parts = [field.parts[i] for i in field.data]
        if field.types[-1] == gguf.GGUFValueType.STRING:
            return [bytes(p).decode("utf-8") for p in parts]
        return [p.tolist()[0] for p in parts]
    part = field.parts[field.data[0]]
    return bytes(part).decode("utf-8") if field.types[0] == gguf.GGUFValueType.STRING else part.tolist()[0]


@pytest.fixture(scope="module")
def gguf_file(gpt_runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gguf") / "model.gguf"
    assert genlab_main(["export", str(gpt_runs["bpe"]), "--format", "gguf", "--out", str(out)]) == 0
    return out


def test_the_file_is_llama_cpps_gpt2(gguf_file: Path, gpt_runs) -> None:
    model, tokenizer, config = load_model(gpt_runs["bpe"])
    reader = gguf.GGUFReader(str(gguf_file))
    for key in REQUIRED_KEYS:
        assert key in reader.fields, key
    m = config["model"]
    assert _value(reader, "general.architecture") == "gpt2"
    assert _value(reader, "gpt2.context_length") == m["block_size"] == gguf_context(gguf_file)
    assert _value(reader, "gpt2.embedding_length") == m["n_embd"]
    assert _value(reader, "gpt2.feed_forward_length") == 4 * m["n_embd"]
    assert _value(reader, "gpt2.block_count") == m["n_layer"]
    assert _value(reader, "gpt2.attention.head_count") == m["n_head"]
    assert _value(reader, "gpt2.attention.layer_norm_epsilon") == pytest.approx(1e-5)
    assert _value(reader, "tokenizer.ggml.model") == "gpt2" and _value(reader, "tokenizer.ggml.pre") == "gpt-2"
    assert _value(reader, "tokenizer.ggml.bos_token_id") == 3 == _value(reader, "tokenizer.ggml.eos_token_id")

    tokens, types = _value(reader, "tokenizer.ggml.tokens"), _value(reader, "tokenizer.ggml.token_type")
    vocab = json.loads(tokenizer.hf_json)["model"]["vocab"]
    assert len(tokens) == m["vocab_size"] == len(types)
    assert tokens[:4] == list(SPECIAL_TOKENS) and types[:4] == [3] * 4 and set(types[4:]) == {1}
    assert all(vocab[t] == i for i, t in enumerate(tokens))
    merges = _value(reader, "tokenizer.ggml.merges")
    hf_merges = json.loads(tokenizer.hf_json)["model"]["merges"]
    assert merges == [m if isinstance(m, str) else " ".join(m) for m in hf_merges]

    tensors = {t.name: t for t in reader.tensors}
    names = {"token_embd.weight", "position_embd.weight", "output_norm.weight", "output_norm.bias", "output.weight"}
    for i in range(m["n_layer"]):
        for part in ("attn_norm", "attn_qkv", "attn_output", "ffn_norm", "ffn_up", "ffn_down"):
            names |= {f"blk.{i}.{part}.weight", f"blk.{i}.{part}.bias"}
    assert set(tensors) == names
    assert all(t.tensor_type == gguf.GGMLQuantizationType.F32 for t in tensors.values())
    C, V = m["n_embd"], m["vocab_size"]
    shapes = {"token_embd.weight": (V, C), "position_embd.weight": (m["block_size"], C), "output.weight": (V, C),
              "blk.0.attn_qkv.weight": (3 * C, C), "blk.0.attn_output.weight": (C, C),
              "blk.0.ffn_up.weight": (4 * C, C), "blk.0.ffn_down.weight": (C, 4 * C), "blk.0.ffn_up.bias": (4 * C,)}
    for name, shape in shapes.items():
        assert tuple(int(d) for d in reversed(tensors[name].shape)) == shape, name  # ggml lists dims reversed
    block = model.transformer.h[0]
    pairs = {"token_embd.weight": model.transformer.wte.weight, "blk.0.attn_qkv.weight": block.attn.c_attn.weight,
             "blk.0.ffn_down.bias": block.mlp.c_proj.bias, "output_norm.weight": model.transformer.ln_f.weight}
    for name, tensor in pairs.items():
        np.testing.assert_array_equal(np.asarray(tensors[name].data).reshape(tuple(tensor.shape)),
                                      tensor.detach().numpy())


def test_the_command_sizes_llama_cpps_window_to_the_model(gpt_runs, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """llama.cpp aborts on a learned position past the model's context, so the printed command stays inside it."""
    block = load_model(gpt_runs["bpe"])[2]["model"]["block_size"]
    assert genlab_main(["export", str(gpt_runs["bpe"]), "--format", "gguf", "--out", str(tmp_path / "m.gguf")]) == 0
    said = capsys.readouterr().out
    assert f"-c {block} -n {block // 2} " in said and f"PARAMETER num_ctx {block}" in said


def test_char_runs_and_folders_are_refused(gpt_runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert genlab_main(["export", str(gpt_runs["char"]), "--format", "gguf", "--out", str(tmp_path / "a.gguf")]) == 2
    assert "byte-level BPE" in capsys.readouterr().err
    assert genlab_main(["export", str(gpt_runs["bpe"]), "--format", "gguf", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                    reason="llama-cpp-python is not installed (no wheel for this platform; `make llama-cpp` builds "
                    "llama.cpp from source, ~5 min on 2 cores, and runs this test)")
def test_llama_cpp_picks_genlabs_greedy_tokens_for_64_steps(gpt2_folder: Path, tmp_path: Path) -> None:
    import llama_cpp

    run, out = tmp_path / "imported", tmp_path / "gpt2.gguf"
    assert genlab_main(["import-hf", str(gpt2_folder), "--out", str(run)]) == 0
    assert genlab_main(["export", str(run), "--format", "gguf", "--out", str(out)]) == 0
    model, tokenizer, _ = load_model(run)
    prompt = "the cat sat"
    ours = [t.id for t in complete(model, tokenizer, prompt, SamplingConfig(max_tokens=64, temperature=0.0,
                                                                             stop_at_eos=False))[0].tokens]
    llm = llama_cpp.Llama(model_path=str(out), n_ctx=model.block_size, logits_all=True, verbose=False)
    assert llm.tokenize(prompt.encode(), add_bos=True, special=False) == [3, *tokenizer.encode(prompt)]
    llm.eval([3, *tokenizer.encode(prompt)])
    theirs = []
    for _ in range(64):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        theirs.append(nxt)
        llm.eval([nxt])
    assert theirs == ours


def test_out_never_replaces_a_runs_file_or_a_foreign_file(gpt_runs, gguf_file: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Only a new name or a GGUF genlab wrote before may be written; a run's own files are left alone."""
    run = gpt_runs["bpe"]
    foreign = tmp_path / "llama.gguf"  # a GGUF genlab did not write (another model)
    writer = gguf.GGUFWriter(str(foreign), "llama")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    text = tmp_path / "notes.txt"
    text.write_text("keep me")
    targets = [run / "model.safetensors", run / "tokenizer.json", run, foreign, text]
    before = {p: p.read_bytes() for p in targets if p.is_file()}
    for out in targets:
        assert genlab_main(["export", str(run), "--format", "gguf", "--out", str(out)]) == 2, out
        err = capsys.readouterr().err
        assert "\n" not in err.strip() and ("already exists" in err or "is the run being exported" in err), err
    assert {p: p.read_bytes() for p in before} == before
    again = tmp_path / "again.gguf"
    again.write_bytes(gguf_file.read_bytes())  # an earlier export: replaced
    assert genlab_main(["export", str(run), "--format", "gguf", "--out", str(again)]) == 0
