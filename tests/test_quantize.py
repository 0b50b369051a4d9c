"""Int8 decoding (``--quantize int8``): the same model in 8-bit weights, its scores close to float32."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

from genlab.cli import main
from genlab.errors import GenlabError
from genlab.generate import SamplingConfig, complete
from genlab.models.gpt import GPT, GPTConfig
from genlab.models.rnn import RecurrentLM, RNNConfig
from genlab.quantize import quantize_int8
from genlab.tokenizers import train as train_tokenizer
from genlab.tokens import PrepareConfig, prepare


def trained_gpt(steps: int = 60) -> GPT:
    """A small GPT fitted for a few steps to a repeating pattern, so its logits are far from uniform."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=24, block_size=32, n_layer=2, n_head=2, n_embd=64))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    pattern = torch.tensor([4 + (i * 7) % 20 for i in range(33 * 8)]).view(8, 33)
    for _ in range(steps):
        logits = model(pattern[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, 24), pattern[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_gpt_weights_become_int8_and_scores_stay_close():
    model = trained_gpt()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = quantize_int8(model)
    assert q.transformer.h[0].mlp.c_fc.weight().dtype == torch.qint8
    assert not any(type(m) is nn.Linear for m in q.modules())  # every float linear layer was replaced
    for k, v in model.state_dict().items():  # the original model is untouched (a copy was quantized)
        torch.testing.assert_close(v, before[k])
    x = torch.randint(4, 24, (3, 32))
    with torch.inference_mode():
        ref, got = model.logits(x), q.logits(x)
        p_ref, p_got = ref.softmax(-1), got.softmax(-1)
    assert (p_ref - p_got).abs().max() < 0.05
    assert (ref.argmax(-1) == got.argmax(-1)).float().mean() > 0.95
    nll_ref = nn.functional.cross_entropy(ref[:, :-1].reshape(-1, 24), x[:, 1:].reshape(-1))
    nll_got = nn.functional.cross_entropy(got[:, :-1].reshape(-1, 24), x[:, 1:].reshape(-1))
    assert abs(float(nll_got) / float(nll_ref) - 1) < 0.02


def test_quantized_gpt_decodes_with_its_kv_cache_like_the_float_model():
    model = trained_gpt()
    q = quantize_int8(model)
    tok = train_tokenizer("char", ["abcdefghijklmnopqrst"])
    assert tok.vocab_size == 24
    cfg = SamplingConfig(max_tokens=40, temperature=0, stop_at_eos=False)
    (ref,) = complete(model, tok, "ahov", cfg)
    (got,) = complete(q, tok, "ahov", cfg)
    assert len(got.tokens) == 40
    agree = np.mean([a.id == b.id for a, b in zip(ref.tokens, got.tokens)])
    assert agree > 0.9
    # step-by-step decoding agrees with the full forward pass (not bit for bit: each call quantizes
    # its own activations, with a range taken over what it is given)
    ids = torch.tensor([[3, 4, 11, 18, 5, 12]])
    with torch.inference_mode():
        state = q.start(1)
        steps = []
        for t in range(ids.shape[1]):
            logits, state = q.step(ids[:, t], state)
            steps.append(logits)
        torch.testing.assert_close(torch.stack(steps, 1).softmax(-1), q.logits(ids).softmax(-1), atol=0.05, rtol=0)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_recurrent_models_quantize_too(cell):
    torch.manual_seed(1)
    model = RecurrentLM(RNNConfig(cell=cell, vocab_size=30, n_embd=32, n_layer=2, block_size=16)).eval()
    q = quantize_int8(model)
    assert type(q.lm_head) is not nn.Linear
    x = torch.randint(0, 30, (2, 16))
    with torch.inference_mode():
        torch.testing.assert_close(q.logits(x).softmax(-1), model.logits(x).softmax(-1), atol=0.03, rtol=0)
        logits, state = q.step(x[:, 0], q.start(2))
    assert logits.shape == (2, 30)


def test_models_without_weight_matrices_are_refused():
    with pytest.raises(GenlabError, match="neural models"):
        quantize_int8(object())
    with pytest.raises(GenlabError, match="no linear"):
        quantize_int8(nn.Sequential(nn.Embedding(5, 4), nn.LayerNorm(4)))


def test_a_model_off_the_cpu_is_refused_clearly():
    model = nn.Sequential(nn.Linear(4, 4)).to("meta")
    with pytest.raises(GenlabError, match="CPU int8 kernels.*meta"):
        quantize_int8(model)


def test_a_pytorch_without_dynamic_int8_is_refused_clearly(monkeypatch):
    """torch.ao.quantization is announced for removal: a torch without it gets one line, not a traceback."""
    monkeypatch.setitem(sys.modules, "torch.ao.quantization", None)  # makes the import raise ImportError
    with pytest.raises(GenlabError, match=r"no longer has .*pip install torch==2\.13\.0\) or drop --quantize"):
        quantize_int8(nn.Sequential(nn.Linear(4, 4)))


def small_word_run(tmp_path):
    """A prepared run of five words and a 1-layer GPT trained on it for 30 steps."""
    rng = np.random.default_rng(0)
    words = ["one", "two", "three", "four", "five"]
    (tmp_path / "t.txt").write_text("\n".join(" ".join(rng.choice(words, 6)) for _ in range(300)) + "\n",
                                    encoding="utf-8")
    run = tmp_path / "run"
    prepare(PrepareConfig(corpus=str(tmp_path / "t.txt"), out=str(run), unit="line", split=(0.8, 0.1, 0.1)),
            progress=False)
    assert main(["train", str(run), "--model", "gpt", "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
                 "--block-size", "32", "--batch-size", "8", "--max-steps", "30", "--eval-interval", "30",
                 "--quiet", "--device", "cpu"]) == 0
    return run


def test_generate_cli_with_quantize_int8(tmp_path, capsys):
    run = small_word_run(tmp_path)
    capsys.readouterr()
    assert main(["generate", str(run), "--quantize", "int8", "--temperature", "0", "--max-tokens", "20",
                 "--prompt", "one", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip()) > 3
