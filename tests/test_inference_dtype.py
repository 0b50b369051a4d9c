"""16-bit decoding (``--dtype bfloat16``): the same model with its weights in bfloat16, scores in float32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_quantize import small_word_run, trained_gpt  # tests/ is on sys.path (no __init__.py at the top)
from torch import nn

from genlab import inference_dtype
from genlab.cli import main
from genlab.errors import GenlabError
from genlab.generate import SamplingConfig, complete
from genlab.inference_dtype import cast_for_inference
from genlab.models.gpt_decode import packed_linear_available
from genlab.models.markov import MarkovChain
from genlab.models.rnn import RecurrentLM, RNNConfig
from genlab.quantize import quantize_int8
from genlab.serve.slots import slot_states
from genlab.tokenizers import train as train_tokenizer


@pytest.fixture
def native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behave as on a CPU with AVX-512 BF16 (bfloat16 still computes everywhere, only slower without it)."""
    monkeypatch.setattr(inference_dtype, "cpu_has_native_bfloat16", lambda: True)


def test_float32_is_a_no_op():
    model = trained_gpt(steps=1)
    assert cast_for_inference(model, "float32", "cpu") is model


def test_gpt_in_bfloat16_scores_close_to_float32_and_returns_float32(native_bf16):
    model = trained_gpt()
    x = torch.randint(4, 24, (3, 32))
    with torch.inference_mode():
        ref = model.logits(x)
    half = cast_for_inference(trained_gpt(), "bfloat16", "cpu")
    assert half.transformer.h[0].mlp.c_fc.weight.dtype == torch.bfloat16
    with torch.inference_mode():
        got = half.logits(x).float()
        state = half.start(3)
        assert state.k.dtype == torch.bfloat16  # the KV cache follows the weights
        step_logits, _ = half.prefill(x[:, :5], state)
    assert (ref.softmax(-1) - got.softmax(-1)).abs().max() < 0.05
    assert (ref.argmax(-1) == got.argmax(-1)).float().mean() > 0.95
    torch.testing.assert_close(step_logits.float().softmax(-1), got[:, 4].softmax(-1), atol=0.02, rtol=0)


def test_bfloat16_gpt_decodes_like_float32_through_generate_and_server_slots(native_bf16):
    model = trained_gpt()
    tok = train_tokenizer("char", ["abcdefghijklmnopqrst"])
    cfg = SamplingConfig(max_tokens=40, temperature=0, stop_at_eos=False)
    (ref,) = complete(model, tok, "ahov", cfg)
    half = cast_for_inference(trained_gpt(), "bfloat16", "cpu")
    (got,) = complete(half, tok, "ahov", cfg)
    assert np.mean([a.id == b.id for a, b in zip(ref.tokens, got.tokens)]) > 0.9
    # a server's batch: rows at different positions, scores handed to sampling in float32
    slots = slot_states(half, 3)
    with torch.inference_mode():
        first = slots.feed([0, 1], [[4, 5, 6], [7, 8]])
        both = slots.feed([0, 1, 2], [[9], [10], [11, 12]])
    assert first.dtype == torch.float32 and both.dtype == torch.float32 and both.shape == (3, 24)


def test_bfloat16_packed_products_are_used_only_where_the_cpu_computes_them_natively():
    available = packed_linear_available(torch.bfloat16)
    if available:  # then they compute F.linear, to bfloat16's precision
        assert torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert packed_linear_available(torch.float32) in (True, False)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_models_decode_in_bfloat16_too(native_bf16, cell):
    torch.manual_seed(1)
    model = RecurrentLM(RNNConfig(cell=cell, vocab_size=30, n_embd=32, n_layer=2, block_size=16)).eval()
    x = torch.randint(0, 30, (2, 16))
    with torch.inference_mode():
        ref = model.logits(x).softmax(-1)
    half = cast_for_inference(model, "bfloat16", "cpu")
    with torch.inference_mode():
        torch.testing.assert_close(half.logits(x).float().softmax(-1), ref, atol=0.03, rtol=0)


def test_what_cannot_be_cast_is_refused_in_one_line(monkeypatch):
    markov = MarkovChain.__new__(MarkovChain)  # counts do not matter: it is refused for what it is
    with pytest.raises(GenlabError, match="neural models.*MarkovChain"):
        cast_for_inference(markov, "bfloat16", "cpu")
    with pytest.raises(GenlabError, match="choose one"):
        cast_for_inference(quantize_int8(trained_gpt(steps=1)), "bfloat16", "cpu")
    with pytest.raises(GenlabError, match="emulated on CPUs"):
        cast_for_inference(trained_gpt(steps=1), "float16", "cpu")
    with pytest.raises(GenlabError, match="must be one of"):
        cast_for_inference(trained_gpt(steps=1), "int4", "cpu")
    monkeypatch.setattr(inference_dtype, "cpu_has_native_bfloat16", lambda: False)
    with pytest.raises(GenlabError, match="no native bfloat16"):
        cast_for_inference(trained_gpt(steps=1), "bfloat16", "cpu")


def test_float16_on_a_gpu_is_not_refused_here():
    model = nn.Sequential(nn.Linear(4, 4)).to("meta")
    assert next(cast_for_inference(model, "float16", "cuda").parameters()).dtype == torch.float16


def test_generate_cli_with_dtype_bfloat16(tmp_path, capsys, native_bf16):
    run = small_word_run(tmp_path)
    capsys.readouterr()
    assert main(["generate", str(run), "--dtype", "bfloat16", "--temperature", "0", "--max-tokens", "20",
                 "--prompt", "one", "--device", "cpu"]) == 0
    assert len(capsys.readouterr().out.strip()) > 3
    code = main(["generate", str(run), "--dtype", "bfloat16", "--quantize", "int8", "--prompt", "one",
                 "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "choose one" in err and err.count("\n") == 1


def test_serve_registry_loads_runs_in_bfloat16(tmp_path, native_bf16):
    from genlab.serve.registry import load_runs

    run = small_word_run(tmp_path)
    served = load_runs([run], device="cpu", dtype="bfloat16").get(run.name)
    assert next(served.model.parameters()).dtype == torch.bfloat16
