"""The one-token decoding step (genlab.models.gpt_decode) against the module path it replaces.

The module path (``GPT.forward`` over a cache) is the reference: it is what training runs and what a
step takes when gradients are on. The plan must give the same scores for every form of the model
(float, int8, with LoRA adapters, GELU variants, without biases) and notice when weights change.
"""

from __future__ import annotations

import pytest
import torch

from genlab.models.gpt import GPT, GPTConfig
from genlab.models.gpt_decode import decode_plan, packed_linear_available
from genlab.quantize import quantize_int8
from genlab.tuning.lora import apply_lora


def tiny(**kw) -> GPT:
    torch.manual_seed(0)
    cfg = dict(vocab_size=29, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.0)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg)).eval()


def decode(model: GPT, ids: torch.Tensor, grad: bool) -> torch.Tensor:
    """Logits after each token of ``ids[B, T]``, fed one at a time (with gradients on: the module path)."""
    with torch.set_grad_enabled(grad):
        state = model.start(ids.shape[0])
        out = []
        for t in range(ids.shape[1]):
            logits, state = model.step(ids[:, t], state)
            out.append(logits.detach())
    assert (state.plan is None) == grad  # which path ran
    return torch.stack(out, 1)


@pytest.mark.parametrize("kw", [{}, {"activation": "gelu_tanh"}, {"bias": False}, {"n_head": 4}])
def test_the_plan_gives_the_module_paths_scores(kw):
    model = tiny(**kw)
    ids = torch.randint(0, 29, (3, 20))  # past the block: the window slides twice
    torch.testing.assert_close(decode(model, ids, grad=False), decode(model, ids, grad=True), atol=1e-5, rtol=1e-5)


def test_int8_and_lora_layers_decode_through_their_own_modules():
    model = tiny()
    ids = torch.randint(0, 29, (2, 10))
    q = quantize_int8(model)
    torch.testing.assert_close(decode(q, ids, grad=False), decode(q, ids, grad=True), atol=1e-5, rtol=1e-5)
    adapted = apply_lora(tiny(), rank=2)
    for name, p in adapted.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)  # a non-zero update, or the adapter would change nothing
    plain = decode(adapted, ids, grad=False)
    torch.testing.assert_close(plain, decode(adapted, ids, grad=True), atol=1e-5, rtol=1e-5)
    assert not torch.allclose(plain, decode(tiny(), ids, grad=False), atol=1e-3)


def test_a_weight_update_rebuilds_the_plan():
    """RL fine-tuning samples between optimizer steps: every generation must see the current weights."""
    model = tiny()
    ids = torch.randint(0, 29, (1, 6))
    before = decode(model, ids, grad=False)
    first = decode_plan(model)
    assert decode_plan(model) is first  # unchanged weights: the same plan
    with torch.no_grad():
        model.transformer.h[0].mlp.c_fc.weight.mul_(3.0)  # in place, as an optimizer step is
    after = decode(model, ids, grad=False)
    assert decode_plan(model) is not first
    assert not torch.allclose(before, after, atol=1e-4)
    torch.testing.assert_close(after, decode(model, ids, grad=True), atol=1e-5, rtol=1e-5)


def test_a_fused_optimizer_step_of_the_training_loop_rebuilds_the_plan():
    """The fused AdamW kernel writes the weights without moving their version counters: the loop's update
    must still make the next decoding step use the new weights (RLHF samples between steps)."""
    from genlab.training.loop import apply_update
    from genlab.training.optim import build_optimizer

    model = tiny()
    ids = torch.randint(0, 29, (2, 6))
    before = decode(model, ids, grad=False)
    optimizer = build_optimizer(model, lr=0.05, weight_decay=0.0, betas=(0.9, 0.99), device="cpu")
    model(ids)[0].square().mean().backward()
    apply_update(optimizer, None, True, True)
    after = decode(model, ids, grad=False)
    assert not torch.allclose(before, after, atol=1e-4)
    torch.testing.assert_close(after, decode(model, ids, grad=True), atol=1e-5, rtol=1e-5)


def test_training_with_dropout_never_takes_the_plan():
    model = tiny(dropout=0.5).train()
    ids = torch.randint(0, 29, (1, 4))
    with torch.no_grad():
        state = model.start(1)
        a, state = model.step(ids[:, 0], state)
        b, _ = model.step(ids[:, 0], model.start(1))
    assert state.plan is None and not torch.allclose(a, b)  # dropout is active: the module path ran


def test_packed_kernels_are_found_on_this_build():
    """The fast products are oneDNN's (a CPU build of PyTorch has them); without them F.linear is used."""
    assert packed_linear_available() == torch.backends.mkldnn.is_available()


def feed_script(model: GPT, grad: bool) -> list[torch.Tensor]:
    """Slots fed ragged prompts, mixed prompt-and-step calls and one-token steps at different positions."""
    gen = torch.Generator().manual_seed(5)
    seqs = [torch.randint(4, 29, (n,), generator=gen).tolist() for n in (25, 3, 14, 9)]
    rows, at, out = [3, 0, 2, 1], [4, 1, 7, 2], []  # rows out of order: the gathered read
    with torch.set_grad_enabled(grad):
        cache = model.start_slots(4)
        out.append(model.feed_slots(cache, rows, [s[:a] for s, a in zip(seqs, at)]).detach())
        out.append(model.feed_slots(cache, rows[:2], [seqs[0][4:6], [seqs[1][1]]]).detach())  # a chunk and a step
        at[0], at[1] = 6, 2
        while any(a < len(s) for a, s in zip(at, seqs)):
            live = [i for i in range(4) if at[i] < len(seqs[i])]
            out.append(model.feed_slots(cache, [rows[i] for i in live], [[seqs[i][at[i]]] for i in live]).detach())
            for i in live:
                at[i] += 1
    assert (cache.plan is None) == grad
    return out


def test_slot_rows_give_the_module_paths_scores():
    model = tiny()
    for plan, module in zip(feed_script(model, grad=False), feed_script(model, grad=True)):
        torch.testing.assert_close(plan, module, atol=1e-5, rtol=1e-5)
