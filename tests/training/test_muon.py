"""Muon: the orthogonalised update, and Muon + AdamW as one optimizer (groups, state, resume)."""

from __future__ import annotations

import pytest
import torch

from genlab.models.gpt import GPT, GPTConfig
from genlab.training.muon import Muon, orthogonalise
from genlab.training.optim import MuonAdamW, build_optimizer


@pytest.mark.parametrize("shape", [(8, 24), (24, 8), (16, 16)])
def test_orthogonalise_flattens_the_singular_values(shape):
    g = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    g[:, 0] *= 50  # one direction dominates the raw matrix
    raw, s = torch.linalg.svdvals(g), torch.linalg.svdvals(orthogonalise(g))
    assert raw.max() / raw.median() > 5  # before: one direction dominates
    assert s.max() < 1.3 and 0.6 < s.median() < 1.2  # after: the directions move at about the same rate
    assert orthogonalise(g).shape == g.shape


@pytest.mark.parametrize("shape", [(8, 24), (24, 8)])
def test_a_stack_is_orthogonalised_matrix_by_matrix(shape):
    stack = torch.randn(3, *shape, generator=torch.Generator().manual_seed(1))
    stack[1] *= 100  # each matrix is normalised by its own norm, not the stack's
    alone = torch.stack([orthogonalise(m) for m in stack])
    torch.testing.assert_close(orthogonalise(stack), alone, atol=1e-5, rtol=1e-4)


def test_one_muon_step_over_layers_equals_a_step_per_matrix():
    torch.manual_seed(0)
    shapes = [(6, 4), (6, 4), (4, 12), (6, 4)]
    weights = [torch.nn.Parameter(torch.randn(*s)) for s in shapes]
    copies = [torch.nn.Parameter(w.detach().clone()) for w in weights]
    together = Muon(weights, lr=0.02, weight_decay=0.1)
    apart = [Muon([c], lr=0.02, weight_decay=0.1) for c in copies]
    for _ in range(3):
        for w, c in zip(weights, copies):
            w.grad = torch.randn_like(w)
            c.grad = w.grad.clone()
        together.step()
        for opt in apart:
            opt.step()
    for w, c in zip(weights, copies):
        torch.testing.assert_close(w, c, atol=1e-5, rtol=1e-4)
        assert not torch.equal(w, torch.zeros_like(w))


def test_muon_refuses_non_matrices():
    with pytest.raises(ValueError, match="matrices"):
        Muon([torch.nn.Parameter(torch.zeros(3))])


def test_muon_takes_hidden_matrices_and_adamw_the_rest():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8, tie_weights=False))
    opt = build_optimizer(model, 1e-3, 0.1, (0.9, 0.99), "cpu", "muon")
    assert isinstance(opt, MuonAdamW)
    muon = {id(p) for g in opt.muon.param_groups for p in g["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in muon}
    assert names == {"transformer.h.0.attn.c_attn.weight", "transformer.h.0.attn.c_proj.weight",
                     "transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_proj.weight"}
    adamw = {id(p) for g in opt.adamw.param_groups for p in g["params"]}
    assert id(model.lm_head.weight) in adamw and id(model.transformer.wte.weight) in adamw
    assert len(muon) + len(adamw) == len(list(model.parameters()))


def test_state_round_trips_and_a_plain_adamw_state_is_refused():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8))
    opt = build_optimizer(model, 1e-3, 0.1, (0.9, 0.99), "cpu", "muon")
    model(torch.randint(0, 11, (2, 8))).sum().backward()
    opt.step()
    again = build_optimizer(model, 1e-3, 0.1, (0.9, 0.99), "cpu", "muon")
    again.load_state_dict(opt.state_dict())
    p = model.transformer.h[0].attn.c_attn.weight
    assert torch.equal(again.muon.state[p]["momentum"], opt.muon.state[p]["momentum"])
    with pytest.raises(ValueError, match="Muon"):
        again.load_state_dict(build_optimizer(model, 1e-3, 0.1, (0.9, 0.99), "cpu").state_dict())
