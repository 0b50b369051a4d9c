"""RNN/LSTM/GRU: the hand-written cells against PyTorch's, and the decoding protocol."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.models.cells import ReferenceRecurrence, gru_cell, lstm_cell, rnn_cell
from genlab.models.protocol import LanguageModel
from genlab.models.rnn import RecurrentLM, RNNConfig, build

CELLS = ["rnn", "lstm", "gru"]


def tiny(cell: str, impl: str = "torch", **kw) -> RecurrentLM:
    torch.manual_seed(0)
    cfg = dict(cell=cell, vocab_size=19, n_layer=2, n_embd=12, block_size=16, dropout=0.0, impl=impl)
    cfg.update(kw)
    return RecurrentLM(RNNConfig(**cfg)).eval()


def test_cells_match_pytorch_single_step_cells():
    torch.manual_seed(1)
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    ref = nn.LSTMCell(5, 7)
    w = (ref.weight_ih, ref.weight_hh, ref.bias_ih, ref.bias_hh)
    with torch.no_grad():
        exp_h, exp_c = ref(x, (h, c))
        got_h, got_c = lstm_cell(x, (h, c), *w)
        torch.testing.assert_close(got_h, exp_h)
        torch.testing.assert_close(got_c, exp_c)
        gru = nn.GRUCell(5, 7)
        torch.testing.assert_close(gru_cell(x, h, gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh), gru(x, h))
        rnn = nn.RNNCell(5, 7)
        torch.testing.assert_close(rnn_cell(x, h, rnn.weight_ih, rnn.weight_hh, rnn.bias_ih, rnn.bias_hh), rnn(x, h))


@pytest.mark.parametrize("cell", CELLS)
def test_reference_and_torch_give_the_same_outputs_for_the_same_weights(cell):
    fast = tiny(cell, "torch")
    slow = tiny(cell, "reference")
    assert set(fast.state_dict()) == set(slow.state_dict())
    slow.load_state_dict(fast.state_dict())
    x = torch.randint(0, 19, (3, 9))
    with torch.no_grad():
        torch.testing.assert_close(slow.logits(x), fast.logits(x), atol=1e-5, rtol=1e-5)
        s_fast, s_slow = fast.start(3), slow.start(3)
        a, s_fast = fast.prefill(x, s_fast)
        b, s_slow = slow.prefill(x, s_slow)
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        for got, want in zip(torch.utils._pytree.tree_leaves(s_slow), torch.utils._pytree.tree_leaves(s_fast)):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_gradients_agree_between_implementations(cell):
    fast, slow = tiny(cell, "torch"), tiny(cell, "reference")
    slow.load_state_dict(fast.state_dict())
    x = torch.randint(0, 19, (2, 6))
    fast.logits(x).square().mean().backward()
    slow.logits(x).square().mean().backward()
    torch.testing.assert_close(slow.core.weight_hh_l0.grad, fast.core.weight_hh_l0.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("cell", CELLS)
def test_step_by_step_equals_teacher_forcing(cell):
    model = tiny(cell)
    assert isinstance(model, LanguageModel) and model.context_size is None
    assert not hasattr(model, "block_size")  # no hard input limit: the training window is a config value
    x = torch.randint(0, 19, (2, 8))
    with torch.no_grad():
        full = model.logits(x)
        state = model.start(2)
        for t in range(8):
            out, state = model.step(x[:, t], state)
            torch.testing.assert_close(out, full[:, t], atol=1e-5, rtol=1e-5)
    if cell == "lstm":
        h, c = state
        assert h.shape == c.shape == (2, 2, 12)  # hidden and cell state per layer
    else:
        assert state.shape == (2, 2, 12)


def test_reference_dropout_between_layers_is_training_only():
    model = tiny("lstm", "reference", dropout=0.5)
    x = torch.randint(0, 19, (2, 5))
    with torch.no_grad():
        torch.testing.assert_close(model.logits(x), model.logits(x))
        model.train()
        assert not torch.allclose(model(x), model(x))


def test_tying_and_build_from_config_dict():
    model = build({"family": "gru", "vocab_size": 19, "n_layer": 1, "n_embd": 8, "block_size": 4})
    assert model.config.cell == "gru" and isinstance(model.core, nn.GRU)
    assert model.lm_head.weight is model.wte.weight
    untied = tiny("rnn", tie_weights=False)
    assert untied.lm_head.weight is not untied.wte.weight


def test_bad_config_values_are_clear_errors():
    with pytest.raises(GenlabError):
        tiny("lstm", impl="cuda-magic")
    with pytest.raises(GenlabError):
        tiny("transformer")
    with pytest.raises(ValueError):
        ReferenceRecurrence("elman", 4, 4)
