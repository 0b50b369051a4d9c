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
