"""LoRA: starts at the base model, merges into plain weights, trains only the adapters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.models import gpt, rnn
from genlab.tuning.lora import LoRALinear, adapter_state, apply_lora, merge_lora, trainable_parameters

CONFIG = {"family": "gpt", "vocab_size": 20, "n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 12}
TOKENS = torch.tensor([[3, 5, 7, 9, 11, 2, 4]])


def lora_gpt(rank: int = 4):
    torch.manual_seed(0)
    base = gpt.build(CONFIG).eval()
    torch.manual_seed(0)
    model = apply_lora(gpt.build(CONFIG).eval(), rank)
    return base, model


def test_a_fresh_adapter_leaves_the_model_unchanged():
    base, model = lora_gpt()
    with torch.no_grad():
        assert torch.equal(model(TOKENS), base(TOKENS))
    assert sum(isinstance(m, LoRALinear) for m in model.modules()) == 4 * CONFIG["n_layer"]
    assert trainable_parameters(model) == sum(p.numel() for p in adapter_state(model).values())
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)


def test_merged_forward_equals_the_adapted_forward():
    _, model = lora_gpt()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)  # a trained adapter
        adapted = model(TOKENS)
        state = model.state_dict()  # plain GPT names, merged weights
        plain = gpt.build(CONFIG).eval()
        plain.load_state_dict(state)
        assert torch.allclose(plain(TOKENS), adapted, atol=1e-5)
        merged = merge_lora(model)
        assert not any(isinstance(m, LoRALinear) for m in merged.modules())
        assert torch.allclose(merged(TOKENS), adapted, atol=1e-5)
    assert set(state) == set(gpt.build(CONFIG).state_dict())


def test_only_adapters_get_gradients():
    _, model = lora_gpt()
    model.train()
    model(TOKENS).sum().backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == ("lora_" in name), name


def test_recurrent_models_and_bad_ranks_are_refused():
    lstm = rnn.build({"family": "lstm", "vocab_size": 20, "n_layer": 1, "n_embd": 8})
    with pytest.raises(GenlabError, match="this model has none"):
        apply_lora(lstm, 4)
    with pytest.raises(GenlabError, match="--lora-rank must be"):
        apply_lora(nn.Sequential(nn.Linear(2, 2)), 0)
