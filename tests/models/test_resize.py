"""Growing a model's vocabulary keeps every old token's logits exactly."""

from __future__ import annotations

import pytest
import torch

from genlab.errors import GenlabError
from genlab.models import gpt, rnn
from genlab.models.resize import grown_model, row_sources

OLD = ["<pad>", "<unk>", "<bos>", "<eos>", "a", "b", "c", "d"]


@pytest.mark.parametrize("family, module, extra", [
    ("gpt", gpt, {"n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 16}),
    ("gpt", gpt, {"n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16, "tie_weights": False}),
    ("lstm", rnn, {"n_layer": 1, "n_embd": 16, "block_size": 16}),
    ("gru", rnn, {"n_layer": 2, "n_embd": 16, "block_size": 16, "tie_weights": False}),
])
def test_old_ids_keep_their_exact_logits(family, module, extra):
    torch.manual_seed(0)
    config = {"family": family, "vocab_size": len(OLD), **extra}
    model = module.build(config).eval()
    new = OLD + ["e", "<|user|>", "<|end|>"]
    grown, grown_config = grown_model(model, config, OLD, new, module.build)
    grown.eval()
    assert grown_config["vocab_size"] == len(new) and config["vocab_size"] == len(OLD)
    tokens = torch.tensor([[3, 4, 5, 6, 7, 4]])
    with torch.no_grad():
        before, after = model(tokens), grown(tokens)
    assert torch.equal(after[..., : len(OLD)], before)  # identical, not just close
    emb = grown.transformer.wte.weight if family == "gpt" else grown.wte.weight
    old_emb = model.transformer.wte.weight if family == "gpt" else model.wte.weight
    assert torch.allclose(emb[len(OLD):], old_emb.mean(dim=0).expand(3, -1))  # new rows: the mean of the old


def test_a_token_that_moved_keeps_its_row():
    torch.manual_seed(1)
    config = {"family": "gpt", "vocab_size": len(OLD), "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 8}
    model = gpt.build(config).eval()
    new = OLD[:4] + ["<|end|>"] + OLD[4:]  # every letter's id moves up by one
    grown, _ = grown_model(model, config, OLD, new, gpt.build)
    with torch.no_grad():
        before = model(torch.tensor([[3, 4, 5]]))
        after = grown.eval()(torch.tensor([[3, 5, 6]]))
    # the same rows in another order: equal up to the matmul's summation order
    assert torch.allclose(after[..., [0, 1, 2, 3, 5, 6, 7, 8]], before, atol=1e-6)


def test_dropping_an_old_token_is_refused():
    with pytest.raises(GenlabError, match="drops 1 token"):
        row_sources(OLD, OLD[:-1] + ["z"])
