"""Course step 5: perplexity through the shared protocol (genlab.evaluate)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from genlab.errors import GenlabError
from genlab.evaluate import perplexity
from genlab.tokenizers import EOS_ID

V = 7


class NGramTable(nn.Module):
    """A fixed n-gram model: next-token log-probabilities depend on the last ``context_size`` tokens.

    Positions with less history than that (the start of a window) see PAD_ID (0) in the missing
    slots, which changes their scores — exactly the case evaluation windows must overlap to avoid.
    """

    def __init__(self, context: int, seed: int = 0, block_size: int | None = None) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.order = context  # what the table really uses
        self.context_size = context  # what the model tells evaluation
        self.vocab_size = V
        self.table = torch.log_softmax(torch.randn((V,) * context + (V,), generator=g) * 2, dim=-1)
        if block_size is not None:
            self.block_size = block_size
        self.calls = 0

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        padded = torch.cat([torch.zeros(tokens.shape[0], self.order - 1, dtype=torch.long), tokens], dim=1)
        index = tuple(padded[:, i:i + tokens.shape[1]] for i in range(self.order))
        return self.table[index]

    def start(self, batch_size: int):
        raise NotImplementedError

    def step(self, tokens, state):
        raise NotImplementedError

    def logprob(self, history: list[int], token: int) -> float:
        h = ([0] * self.order + history)[-self.order:]
        return float(self.table[tuple(h) + (token,)])


def stream_of(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(4, V, size=n).astype(np.uint16)


def hand_nll(model: NGramTable, data: np.ndarray) -> float:
    """Sum of -log p over the stream read as <eos> + data, each token given its true history."""
    seq = [EOS_ID] + data.tolist()
    return -sum(model.logprob(seq[:i], seq[i]) for i in range(1, len(seq)))


def test_perplexity_equals_the_hand_computed_value():
    model = NGramTable(context=1)
    data = stream_of(50)
    report = perplexity(model, data, window=16, batch_size=2, characters=100, nbytes=120)
    nll = hand_nll(model, data)
    assert report.tokens == 50
    assert report.nll_nats == pytest.approx(nll, rel=1e-6)
    assert report.mean_nll == pytest.approx(nll / 50, rel=1e-6)
    assert report.perplexity == pytest.approx(math.exp(nll / 50), rel=1e-6)
    assert report.bits_per_token == pytest.approx(nll / 50 / math.log(2), rel=1e-6)
    assert report.bits_per_char == pytest.approx(nll / math.log(2) / 100, rel=1e-6)
    assert report.bits_per_byte == pytest.approx(nll / math.log(2) / 120, rel=1e-6)
    assert report.as_dict()["perplexity"] == report.perplexity
    assert any("perplexity" in line for line in report.lines("val"))


def test_uniform_model_has_perplexity_equal_to_vocabulary_size():
    model = NGramTable(context=1)
    model.table = torch.full_like(model.table, -math.log(V))
    assert perplexity(model, stream_of(40)).perplexity == pytest.approx(V, rel=1e-6)


@pytest.mark.parametrize("context", [1, 2, 3])
@pytest.mark.parametrize("window, batch", [(4, 1), (5, 3), (8, 2), (16, 16), (3, 2)])
def test_overlapping_windows_equal_scoring_the_whole_stream_at_once(context, window, batch):
    model = NGramTable(context=context, seed=context)
    data = stream_of(101, seed=window)
    whole = perplexity(model, data, window=len(data) + 1, batch_size=1)
    assert model.calls == 1  # one window: the whole stream in a single pass
    windowed = perplexity(model, data, window=window, batch_size=batch)
    assert windowed.tokens == whole.tokens == len(data)
    assert windowed.nll_nats == pytest.approx(whole.nll_nats, rel=1e-9)
    assert whole.nll_nats == pytest.approx(hand_nll(model, data), rel=1e-6)


def test_without_overlap_windows_would_differ():
    """The overlap matters: scoring cut windows naively gives another (wrong) number."""
    model = NGramTable(context=2, seed=4)
    data = stream_of(60)
    model.context_size = None  # if the model did not say how far back it looks, windows could not overlap
    naive = perplexity(model, data, window=5)
    assert naive.nll_nats != pytest.approx(hand_nll(model, data), rel=1e-6)


def test_block_size_models_are_scored_on_consecutive_blocks():
    model = NGramTable(context=2, seed=5, block_size=8)
    data = stream_of(30)
    report = perplexity(model, data, window=100)
    seq = [EOS_ID] + data.tolist()
    expected = 0.0
    for start in range(0, len(seq) - 1, 8):  # nanoGPT-style: each block starts without history
        block = seq[start:start + 9]
        expected -= sum(model.logprob(block[:i], block[i]) for i in range(1, len(block)))
    assert report.tokens == 30
    assert report.nll_nats == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("stride", [1, 3, 6, 8])
def test_a_stride_slides_the_block_and_scores_each_token_once_with_history(stride):
    """With a stride, every token is scored once, by the window that gives it at least block - stride
    tokens of history (the first window: whatever precedes it)."""
    block = 8
    model = NGramTable(context=3, seed=6, block_size=block)
    data = stream_of(41)
    report = perplexity(model, data, stride=stride, batch_size=4)
    seq = [EOS_ID] + data.tolist()
    expected = 0.0
    for t in range(1, len(seq)):  # target index t, predicted from the window that scores it
        start = 0 if t <= block else ((t - block - 1) // stride + 1) * stride
        window = seq[start:start + block + 1]
        expected -= model.logprob(window[:t - start], window[t - start])
    assert report.tokens == 41
    assert report.nll_nats == pytest.approx(expected, rel=1e-6)


def test_a_stride_of_the_block_is_consecutive_blocks_and_bad_strides_are_errors():
    model = NGramTable(context=2, seed=5, block_size=8)
    data = stream_of(30)
    assert perplexity(model, data, stride=8).nll_nats == pytest.approx(perplexity(model, data).nll_nats)
    with pytest.raises(GenlabError, match="between 1 and"):
        perplexity(model, data, stride=9)
    with pytest.raises(GenlabError, match="fixed context"):
        perplexity(NGramTable(context=2, seed=5), data, stride=2)


def test_max_tokens_limits_the_stream():
    model = NGramTable(context=1)
    data = stream_of(50)
    report = perplexity(model, data, max_tokens=20)
    assert report.tokens == 20
    assert report.nll_nats == pytest.approx(hand_nll(model, data[:20]), rel=1e-6)


def test_zero_probability_tokens_make_perplexity_infinite():
    model = NGramTable(context=1)
    data = stream_of(20)
    model.table[:, int(data[5])] = -math.inf
    report = perplexity(model, data)
    assert report.infinite >= 1 and math.isinf(report.perplexity)
    assert any("zero-probability" in line for line in report.lines())


def test_nan_scores_and_empty_streams_are_errors():
    model = NGramTable(context=1)
    model.table[:] = math.nan
    with pytest.raises(GenlabError, match="NaN"):
        perplexity(model, stream_of(10))
    with pytest.raises(GenlabError, match="nothing to evaluate"):
        perplexity(NGramTable(context=1), np.zeros(0, dtype=np.uint16))
