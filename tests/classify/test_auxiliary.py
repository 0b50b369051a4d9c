"""The auxiliary language-model loss of ``classify train --aux-lm``: its targets, and that it is in the loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.classify.auxiliary import AuxiliaryLM
from genlab.classify.head import SequenceClassifier
from genlab.classify.model import pad
from genlab.classify.task import ClassificationTask, EncodedTexts
from genlab.errors import GenlabError
from genlab.models.bert import BERT, BertConfig
from genlab.models.gpt import GPT, GPTConfig
from genlab.training.mlm_task import IGNORE

SPECIAL = np.array([0, 1, 2, 3])


def test_next_token_targets_skip_padding() -> None:
    aux = AuxiliaryLM(1.0, encoder=False, mask_id=None, special=SPECIAL, vocab_size=20)
    tokens = np.array([[2, 7, 8, 3, 0], [2, 9, 3, 0, 0]])
    inputs, targets = aux.targets(tokens, np.random.default_rng(0))
    assert inputs is tokens
    assert targets.tolist() == [[7, 8, 3, IGNORE, IGNORE], [9, 3, IGNORE, IGNORE, IGNORE]]


def test_masked_targets_only_at_real_tokens_and_the_same_for_a_seed() -> None:
    aux = AuxiliaryLM(1.0, encoder=True, mask_id=19, special=SPECIAL, vocab_size=20)
    tokens = np.array([[2] + list(range(4, 18)) + [3, 0, 0]] * 8)
    inputs, targets = aux.targets(tokens, np.random.default_rng(5))
    chosen = targets != IGNORE
    assert chosen.any(axis=1).all() and not chosen[np.isin(tokens, SPECIAL)].any()
    assert (targets[chosen] == tokens[chosen]).all() and (inputs[~chosen] == tokens[~chosen]).all()
    again = aux.targets(tokens, np.random.default_rng(5))
    assert np.array_equal(inputs, again[0]) and np.array_equal(targets, again[1])


@pytest.mark.parametrize("encoder", [True, False])
def test_the_loss_adds_weight_times_the_lm_term_on_training_batches_only(encoder: bool) -> None:
    torch.manual_seed(0)
    if encoder:
        backbone = BERT(BertConfig(vocab_size=20, block_size=16, n_layer=1, n_head=2, n_embd=16, dropout=0.0))
    else:
        backbone = GPT(GPTConfig(vocab_size=20, block_size=16, n_layer=1, n_head=2, n_embd=16))
    model = SequenceClassifier(backbone, 16, 2, "mean", dropout=0.0)
    rows = [np.array([2, 5 + i % 9, 6, 7 + i % 5, 3]) for i in range(16)]
    data = EncodedTexts(rows, np.arange(16) % 2)
    tasks = {w: ClassificationTask("x", data, data, lambda c: model, {},
                                   AuxiliaryLM(w, encoder, 19 if encoder else None, SPECIAL, 20)) for w in (0.0, 2.0)}
    batches = {w: t.batch("train", 16, np.random.default_rng(3)) for w, t in tasks.items()}
    assert len(batches[2.0]) == 4 and len(tasks[2.0].batch("val", 4, np.random.default_rng(3))) == 3
    with torch.no_grad():
        plain, weighted = (tasks[w].loss(model, batches[w]) for w in (0.0, 2.0))
        lm = tasks[2.0].auxiliary.loss(backbone, backbone.hidden(batches[2.0][0]), batches[2.0][3])
        assert lm > 0 and torch.allclose(weighted - plain, 2.0 * lm, atol=1e-5)
    tokens, mask = pad(rows)
    assert torch.equal(batches[0.0][1], mask) and len(tokens) == 16


def test_a_bert_without_a_mask_token_is_refused() -> None:
    class NoMask:
        vocab_size, added_specials = 20, ()

        @staticmethod
        def special_id(token: str) -> None:
            return None

    with pytest.raises(GenlabError, match="--aux-lm needs the tokenizer's <mask>"):
        AuxiliaryLM.of(1.0, "bert", NoMask())
