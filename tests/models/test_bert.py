"""BERT: bidirectional attention (GPT stays causal), BERT's masking proportions, labels only at masked positions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.errors import GenlabError
from genlab.models.bert import BERT, BertConfig
from genlab.models.gpt import GPT, GPTConfig
from genlab.training.mlm_task import IGNORE, MASK_AS_MASK, MASK_AS_RANDOM, MASK_RATE, mask_tokens


def test_bert_attention_is_bidirectional_and_gpt_is_not() -> None:
    torch.manual_seed(0)
    bert = BERT(BertConfig(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.0)).eval()
    gpt = GPT(GPTConfig(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16)).eval()
    x = torch.randint(4, 30, (1, 10))
    y = x.clone()
    y[0, 7] = (x[0, 7] + 1 - 4) % 26 + 4  # change position 7 only
    with torch.no_grad():
        b1, b2 = bert.hidden(x), bert.hidden(y)
        g1, g2 = gpt.hidden(x), gpt.hidden(y)
    assert not torch.allclose(b1[0, :7], b2[0, :7])  # earlier positions see the change
    assert torch.allclose(g1[0, :7], g2[0, :7])  # a causal model's earlier positions do not
    assert not torch.allclose(g1[0, 7:], g2[0, 7:])


def test_padding_mask_hides_padded_keys() -> None:
    torch.manual_seed(0)
    bert = BERT(BertConfig(vocab_size=30, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.0)).eval()
    x = torch.randint(4, 30, (1, 6))
    padded = torch.cat([x, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    mask = torch.tensor([[True] * 6 + [False] * 3])
    with torch.no_grad():
        assert torch.allclose(bert.hidden(x), bert.hidden(padded, mask)[:, :6], atol=1e-5)


def test_a_rotary_bert_is_bidirectional_and_knows_the_order_of_its_tokens() -> None:
    torch.manual_seed(0)
    config = dict(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.0)
    bert = BERT(BertConfig(**config, positions="rope")).eval()
    assert not hasattr(bert.transformer, "wpe") and "rope_cos" not in bert.state_dict()
    x = torch.randint(4, 30, (1, 10))
    changed, swapped = x.clone(), x.clone()
    changed[0, 7] = (x[0, 7] + 1 - 4) % 26 + 4
    swapped[0, [2, 5]] = swapped[0, [5, 2]]
    assert x[0, 2] != x[0, 5]
    with torch.no_grad():
        h = bert.hidden(x)
        assert not torch.allclose(h[0, :7], bert.hidden(changed)[0, :7])  # earlier positions see the change
        # with the positions, swapping two tokens changes what the others see (a bag of tokens would not)
        assert not torch.allclose(h[0, 0], bert.hidden(swapped)[0, 0])
        padded = torch.cat([x, torch.zeros(1, 3, dtype=torch.long)], dim=1)
        key_mask = torch.tensor([[True] * 10 + [False] * 3])
        assert torch.allclose(h, bert.hidden(padded, key_mask)[:, :10], atol=1e-5)
    with pytest.raises(GenlabError, match="bert positions must be learned or rope"):
        BERT(BertConfig(**config, positions="sinusoidal"))


def test_bert_takes_gpts_qk_norm_and_relu2() -> None:
    """The fast recipe's options reach the encoder's blocks, which stay bidirectional and respect padding."""
    from genlab.models.gpt import ReLU2

    torch.manual_seed(0)
    config = dict(vocab_size=30, block_size=16, n_layer=2, n_head=2, n_embd=16, dropout=0.0, positions="rope")
    fast = BERT(BertConfig(**config, qk_norm=True, activation="relu2")).eval()
    plain = BERT(BertConfig(**config)).eval()
    plain.load_state_dict(fast.state_dict())  # the options add no weights: the same tensors, other maps
    assert all(b.attn.qk_norm and isinstance(b.mlp.gelu, ReLU2) for b in fast.transformer.h)
    x = torch.randint(4, 30, (1, 10))
    changed = x.clone()
    changed[0, 7] = (x[0, 7] + 1 - 4) % 26 + 4
    padded = torch.cat([x, torch.zeros(1, 3, dtype=torch.long)], dim=1)
    key_mask = torch.tensor([[True] * 10 + [False] * 3])
    with torch.no_grad():
        h = fast.hidden(x)
        assert not torch.allclose(h, plain.hidden(x), atol=1e-3)
        assert not torch.allclose(h[0, :7], fast.hidden(changed)[0, :7])
        assert torch.allclose(h, fast.hidden(padded, key_mask)[:, :10], atol=1e-5)
    with pytest.raises(GenlabError, match="unknown GPT activation"):
        BERT(BertConfig(**config, activation="swish"))


def test_masking_proportions_and_labels_only_at_masked_positions() -> None:
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 100, size=(400, 128))
    ids[:, ::16] = 3  # <eos> separators are special: never chosen
    mask_id, special = 4, np.array([0, 1, 2, 3, 4])
    inputs, labels = mask_tokens(ids, rng, mask_id, special, 100)
    chosen = labels != IGNORE
    assert not chosen[:, ::16].any()
    maskable = ids != 3
    assert abs(chosen.sum() / maskable.sum() - MASK_RATE) < 0.005
    assert (labels[chosen] == ids[chosen]).all()
    assert (inputs[~chosen] == ids[~chosen]).all()  # unchosen positions are untouched
    as_mask = (inputs == mask_id) & chosen
    changed = (inputs != ids) & (inputs != mask_id) & chosen
    assert abs(as_mask.sum() / chosen.sum() - MASK_AS_MASK) < 0.01
    # random replacements that happen to equal the original count as "kept": ~10 % random, ~10 % kept
    assert abs(changed.sum() / chosen.sum() - MASK_AS_RANDOM) < 0.01
    assert not np.isin(inputs[changed], special).any()
    assert (inputs == mask_id).sum() == as_mask.sum()  # <mask> appears only where a label is


def test_masking_is_deterministic_and_every_row_has_a_target() -> None:
    ids = np.full((50, 4), 9)
    a = mask_tokens(ids, np.random.default_rng(3), 4, np.array([0, 1, 2, 3, 4]), 20)
    b = mask_tokens(ids, np.random.default_rng(3), 4, np.array([0, 1, 2, 3, 4]), 20)
    assert all((x == y).all() for x, y in zip(a, b))
    assert ((a[1] != IGNORE).sum(axis=1) >= 1).all()
