"""GPT: causal masking, the KV cache against full re-computation, tying, init, weights on disk."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors import safe_open

import genlab.models.gpt as gpt_module
from genlab.errors import GenlabError
from genlab.models.gpt import GPT, GPTConfig, build
from genlab.models.protocol import LanguageModel, prefill
from genlab.models.weights import load_weights, save_weights


def tiny(**kw) -> GPT:
    torch.manual_seed(0)
    cfg = dict(vocab_size=23, block_size=12, n_layer=2, n_head=2, n_embd=16, dropout=0.0)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg)).eval()


def test_speaks_the_protocol_and_shapes():
    model = tiny()
    assert isinstance(model, LanguageModel)
    assert model.vocab_size == 23 and model.block_size == 12 and model.context_size == 12
    x = torch.randint(0, 23, (3, 12))
    assert model.logits(x).shape == (3, 12, 23)


def test_masking_hides_the_future():
    model = tiny()
    x = torch.randint(4, 23, (2, 10))
    y = x.clone()
    y[:, 6:] = torch.randint(4, 23, (2, 4))
    with torch.no_grad():
        a, b = model.logits(x), model.logits(y)
    torch.testing.assert_close(a[:, :6], b[:, :6])
    assert not torch.allclose(a[:, 6:], b[:, 6:])


def test_kv_cache_matches_full_recomputation():
    model = tiny()
    x = torch.randint(0, 23, (2, 12))
    with torch.no_grad():
        full = model.logits(x)
        state = model.start(2)
        last, state = prefill(model, x[:, :5], state)
        torch.testing.assert_close(last, full[:, 4], atol=1e-5, rtol=1e-5)
        for t in range(5, 12):
            last, state = model.step(x[:, t], state)
            torch.testing.assert_close(last, full[:, t], atol=1e-5, rtol=1e-5)
        # a second prefill in the middle of the cache (queries see the earlier cached positions)
        state = model.start(2)
        model.prefill(x[:, :3], state)
        last, state = model.prefill(x[:, 3:9], state)
        torch.testing.assert_close(last, full[:, 8], atol=1e-5, rtol=1e-5)


def test_decoding_past_the_block_slides_the_window():
    model = tiny()
    x = torch.randint(0, 23, (1, 20))
    with torch.no_grad():
        state = model.start(1)
        logits, state = model.prefill(x[:, :12], state)  # the cache is full
        logits, state = model.step(x[:, 12], state)  # slides: the newest block/2 tokens, re-encoded
        expected = model.logits(x[:, 7:13])[:, -1]
        torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
        for t in range(13, 20):
            logits, state = model.step(x[:, t], state)
        assert state.pos <= model.block_size and torch.isfinite(logits).all()


def test_input_longer_than_the_block_is_a_clear_error():
    with pytest.raises(GenlabError, match="block-size"):
        tiny().logits(torch.zeros(1, 13, dtype=torch.long))


def test_head_is_tied_to_the_embedding_and_gpt2_init():
    model = tiny(n_layer=4, n_embd=64, n_head=4)
    assert model.lm_head.weight is model.transformer.wte.weight
    proj = torch.cat([b.attn.c_proj.weight.flatten() for b in model.transformer.h])
    assert abs(proj.std().item() - 0.02 / math.sqrt(2 * 4)) < 0.002
    assert abs(model.transformer.h[0].mlp.c_fc.weight.std().item() - 0.02) < 0.002
    assert float(model.transformer.h[0].attn.c_attn.bias.detach().abs().sum()) == 0.0
    untied = tiny(tie_weights=False)
    assert untied.lm_head.weight is not untied.transformer.wte.weight


def test_heads_must_divide_the_width():
    with pytest.raises(GenlabError, match="divisible"):
        tiny(n_embd=18, n_head=4)


def test_weights_round_trip_store_tied_tensor_once(tmp_path):
    model = tiny()
    path = tmp_path / "model.safetensors"
    save_weights(path, model)
    with safe_open(str(path), framework="pt") as fh:
        keys = set(fh.keys())
    assert "transformer.wte.weight" in keys and "lm_head.weight" not in keys
    other = build({"family": "gpt", **vars(model.config)}).eval()
    load_weights(other, path)
    assert other.lm_head.weight is other.transformer.wte.weight
    x = torch.randint(0, 23, (2, 7))
    with torch.no_grad():
        torch.testing.assert_close(model.logits(x), other.logits(x))
    wrong = tiny(n_embd=32)
    with pytest.raises(GenlabError, match="does not fit"):
        load_weights(wrong, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(GenlabError, match="corrupted"):
        load_weights(other, path)


def test_dropout_only_in_training():
    model = tiny(dropout=0.5)
    x = torch.randint(0, 23, (2, 8))
    with torch.no_grad():
        torch.testing.assert_close(model.logits(x), model.logits(x))
        model.train()
        assert not torch.allclose(model(x), model(x))


def test_slot_rows_decode_as_each_row_alone_with_its_own_positions():
    """Rows at different positions, fed together (prompts padded, one-token steps batched), sliding their
    windows at different times, give each row's single-sequence KV-cache logits."""
    model = tiny()
    gen = torch.Generator().manual_seed(3)
    seqs = [torch.randint(4, 23, (n,), generator=gen).tolist() for n in (30, 2, 17, 25)]
    prompts = [5, 1, 9, 3]  # how much of each sequence is its prompt
    with torch.no_grad():
        alone = []
        for seq, p in zip(seqs, prompts):
            state = model.start(1)
            last, state = model.prefill(torch.tensor([seq[:p]]), state)
            out = [last[0]]
            for t in seq[p:]:
                last, state = model.step(torch.tensor([t]), state)
                out.append(last[0])
            alone.append(out)
        cache = model.start_slots(6)
        rows = [4, 0, 2, 5]  # any slots, in any order
        first = model.feed_slots(cache, rows, [seq[:p] for seq, p in zip(seqs, prompts)])
        together = [[first[i]] for i in range(4)]
        at = list(prompts)
        while any(a < len(s) for a, s in zip(at, seqs)):
            live = [i for i in range(4) if at[i] < len(seqs[i])]
            logits = model.feed_slots(cache, [rows[i] for i in live], [[seqs[i][at[i]]] for i in live])
            for j, i in enumerate(live):
                together[i].append(logits[j])
                at[i] += 1
    for a, b in zip(alone, together):
        assert len(a) == len(b)
        torch.testing.assert_close(torch.stack(b), torch.stack(a), atol=1e-5, rtol=1e-5)
    assert all(0 < int(cache.pos[r]) <= model.block_size for r in rows)


def test_a_reset_slot_starts_a_new_document():
    model = tiny()
    with torch.no_grad():
        cache = model.start_slots(2)
        model.feed_slots(cache, [1], [[3, 7, 8, 9]])
        cache.pos[1] = 0  # a new request takes the slot
        again = model.feed_slots(cache, [1], [[3, 11]])
        fresh, _ = model.prefill(torch.tensor([[3, 11]]), model.start(1))
    torch.testing.assert_close(again, fresh, atol=1e-5, rtol=1e-5)


# --- the speedrun options: rotary positions, QK-norm, ReLU² ---------------------------------------------
MODERN = [dict(positions="rope"), dict(qk_norm=True), dict(activation="relu2"),
          dict(positions="rope", qk_norm=True, activation="relu2", tie_weights=False)]


@pytest.mark.parametrize("options", MODERN, ids=lambda o: "+".join(f"{k}={v}" for k, v in o.items()))
def test_modern_options_kv_cache_and_slots_match_full_recomputation(options):
    model = tiny(**options)
    x = torch.randint(0, 23, (2, 12))
    with torch.no_grad():
        full = model.logits(x)
        state = model.start(2)
        last, state = model.prefill(x[:, :5], state)
        torch.testing.assert_close(last, full[:, 4], atol=1e-5, rtol=1e-5)
        for t in range(5, 12):
            last, state = model.step(x[:, t], state)
            torch.testing.assert_close(last, full[:, t], atol=1e-5, rtol=1e-5)
        # rows at different positions in one slot cache, each as if alone
        cache = model.start_slots(3)
        model.feed_slots(cache, [0, 2], [x[0, :3].tolist(), x[1, :7].tolist()])
        both = model.feed_slots(cache, [0, 2], [[int(x[0, 3])], [int(x[1, 7])]])
    torch.testing.assert_close(both, torch.stack([full[0, 3], full[1, 7]]), atol=1e-5, rtol=1e-5)


def test_rope_has_no_position_table_and_sees_relative_order():
    model = tiny(positions="rope")
    assert not hasattr(model.transformer, "wpe")
    assert not any("rope" in name for name in model.state_dict())  # rebuilt from the config, not saved
    x = torch.randint(4, 23, (1, 12))
    with torch.no_grad():  # the same tokens at other positions: causal + rotary still tells them apart
        assert not torch.allclose(model.logits(x)[:, -1], model.logits(x.roll(1, dims=1))[:, -1])


def test_plain_gpt_is_gpt2_layout_and_the_options_say_what_leaves_it():
    assert GPTConfig().non_gpt2_options() == []
    assert GPTConfig(activation="gelu_tanh").non_gpt2_options() == []
    opts = GPTConfig(positions="rope", qk_norm=True, activation="relu2").non_gpt2_options()
    assert opts == ["--positions rope", "--qk-norm", "--activation relu2"]


@pytest.mark.parametrize("bad, message", [(dict(positions="sinusoidal"), "positions"),
                                          (dict(activation="swish"), "activation"),
                                          (dict(positions="rope", n_embd=18, n_head=2), "even head size")])
def test_bad_options_are_clear_errors(bad, message):
    with pytest.raises(GenlabError, match=message):
        tiny(**bad)


def _qkv(seed: int, requires_grad: bool = True) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, 4, 16, 8, generator=g).bfloat16().requires_grad_(requires_grad) for _ in range(3))


@pytest.mark.parametrize("amx, lifted", [(False, True), (True, False)])
def test_bfloat16_training_attention_runs_in_float32_only_on_cpus_without_amx(monkeypatch, amx, lifted):
    monkeypatch.setattr(gpt_module, "CPU_HAS_AMX", amx)
    q, k, v = _qkv(0)
    assert gpt_module._float32_backward(q, k, v) is lifted
    with torch.no_grad():  # nothing to differentiate: the bfloat16 forward is as fast, so it stays
        assert not gpt_module._float32_backward(q, k, v)
    frozen = _qkv(0, requires_grad=False)
    assert not gpt_module._float32_backward(*frozen)
    plain = tuple(t.detach().float().requires_grad_() for t in (q, k, v))
    assert not gpt_module._float32_backward(*plain)  # float32 outside autocast: nothing to lift
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert gpt_module._float32_backward(*plain) is lifted  # autocast would run it in bfloat16


def test_lifted_attention_matches_the_bfloat16_kernel_and_keeps_its_dtype(monkeypatch):
    results = []
    for amx in (False, True):
        monkeypatch.setattr(gpt_module, "CPU_HAS_AMX", amx)
        q, k, v = _qkv(1)
        y = gpt_module.attention(q, k, v, is_causal=True)
        assert y.dtype == torch.bfloat16
        y.float().square().sum().backward()
        results.append((y.detach().float(), q.grad.float(), v.grad.float()))
    (y32, dq32, dv32), (y16, dq16, dv16) = results
    assert torch.allclose(y32, y16, atol=0.02, rtol=0.02)
    assert torch.allclose(dq32, dq16, atol=0.05, rtol=0.05) and torch.allclose(dv32, dv16, atol=0.05, rtol=0.05)
    causal = gpt_module.attention(*(t.detach() for t in _qkv(1)), is_causal=True)
    assert torch.equal(causal[:, :, 0], _qkv(1)[2].detach()[:, :, 0])  # the first query sees only itself


def test_the_attention_choice_does_not_break_a_compiled_graph():
    """``--compile``: the CPU-flag check is a constant to dynamo, not a file read that splits the graph."""
    model = build({"family": "gpt", "vocab_size": 17, "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8,
                   "positions": "rope", "qk_norm": True})

    def loss(tokens: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(tokens).float().logsumexp(-1).mean()

    torch._dynamo.reset()
    explained = torch._dynamo.explain(loss)(torch.randint(0, 17, (2, 8)))
    torch._dynamo.reset()
    assert explained.graph_break_count == 0, explained.break_reasons
