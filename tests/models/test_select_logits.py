"""``model(tokens, select=mask)`` scores only the selected positions, and the same as the full forward."""

from __future__ import annotations

import pytest
import torch

from genlab.models import gpt, rnn


@pytest.mark.parametrize("config", [
    {"family": "gpt", "n_layer": 2, "n_head": 2, "n_embd": 16, "block_size": 12},
    {"family": "gpt", "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 12, "positions": "rope",
     "qk_norm": True, "tie_weights": False},
    {"family": "lstm", "n_layer": 2, "n_embd": 16},
    {"family": "gru", "n_layer": 1, "n_embd": 16},
])
def test_selected_logits_equal_the_full_forward_at_those_positions(config):
    torch.manual_seed(0)
    build = gpt.build if config["family"] == "gpt" else rnn.build
    model = build({**config, "vocab_size": 23}).eval()
    tokens = torch.randint(0, 23, (3, 12))
    select = torch.rand(3, 12) < 0.3
    select[0, 0] = True
    with torch.no_grad():
        full = model(tokens)
        picked = model(tokens, select=select)
    assert picked.shape == (int(select.sum()), 23)
    torch.testing.assert_close(picked, full[select], rtol=1e-5, atol=1e-6)
