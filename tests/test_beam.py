"""Greedy and beam search: exactness on a model small enough to enumerate, and on real seq2seq models."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from genlab.beam import beam_search, encode_sources, greedy, length_penalty, translate_texts
from genlab.cli import main
from genlab.models import load_model
from genlab.models.seq2seq import build
from genlab.pairs import PairStore, pad_batch
from genlab.tokenizers import BOS_ID, EOS_ID

REAL = (4, 5, 6)  # the toy model's ordinary tokens


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small models run fastest on one thread, above all on a shared machine; restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TableModel:
    """A decoder whose next-token scores are a fixed random table indexed by (position, previous token).

    Small enough that every output up to a few tokens can be enumerated, so beam search can be checked
    against the exact answer. The source only sets the length limit.
    """

    is_seq2seq = True
    block_size = None

    def __init__(self, seed: int, steps: int = 4, vocab: int = 7) -> None:
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randn(steps + 1, vocab, vocab, generator=g) * 2.0
        self.table[..., :3] = float("-inf")  # never <pad>, <unk> or <bos>
        self.steps = steps

    def encode(self, src):
        return {"rows": torch.zeros(src.shape[0], dtype=torch.long)}

    def start(self, enc):
        return {"pos": enc["rows"].clone()}

    def step(self, tokens, state):
        pos = state["pos"]
        return self.table[pos.clamp(max=self.steps), tokens], {"pos": pos + 1}

    def reorder(self, state, index):
        return {"pos": state["pos"][index]}

    def logprob(self, tokens: list[int], ended: bool) -> float:
        seq = [BOS_ID, *tokens] + ([EOS_ID] if ended else [])
        total = 0.0
        for t in range(len(seq) - 1):
            total += float(torch.log_softmax(self.table[min(t, self.steps), seq[t]], -1)[seq[t + 1]])
        return total


def exhaustive_best(model: TableModel, limit: int, alpha: float) -> tuple[list[int], float]:
    """The best output by brute force: any ≤ limit-1 tokens then <eos>, or exactly ``limit`` tokens."""
    options = [(list(y), True) for n in range(limit) for y in itertools.product(REAL, repeat=n)]
    options += [(list(y), False) for y in itertools.product(REAL, repeat=limit)]
    scored = [(model.logprob(y, e) / length_penalty(len(y) + e, alpha), y) for y, e in options]
    best = max(scored, key=lambda x: x[0])
    return best[1], best[0]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_finds_the_exact_best_output(seed, alpha):
    model = TableModel(seed)
    src = torch.tensor([[5, EOS_ID]])  # 2 source tokens; limit = ceil(0 * 2) + 3 = 3 output tokens
    tokens, normalized = exhaustive_best(model, 3, alpha)
    hyp = beam_search(model, src, beam_size=64, length_penalty_alpha=alpha, max_length_ratio=0, max_length_extra=3)[0]
    assert hyp.tokens == tokens
    assert hyp.normalized == pytest.approx(normalized, abs=1e-5)
    assert hyp.score == pytest.approx(model.logprob(hyp.tokens, hyp.finish_reason == "eos"), abs=1e-5)


@pytest.mark.parametrize("seed", range(6))
def test_beam_one_is_greedy_and_wider_beams_score_no_worse_on_the_toy(seed):
    model = TableModel(seed)
    src = torch.tensor([[5, EOS_ID], [6, EOS_ID]])
    g = greedy(model, src, max_length_ratio=0, max_length_extra=3)
    for alpha in (0.0, 0.6):
        b = beam_search(model, src, 1, alpha, max_length_ratio=0, max_length_extra=3)
        assert [(h.tokens, h.finish_reason) for h in b] == [(h.tokens, h.finish_reason) for h in g]
        assert [h.score for h in b] == pytest.approx([h.score for h in g], abs=1e-5)
    best = [-np.inf, -np.inf]
    for k in (1, 2, 3, 5, 8, 16):
        for i, h in enumerate(beam_search(model, src, k, 0.0, max_length_ratio=0, max_length_extra=3)):
            assert h.score >= best[i] - 1e-5
            best[i] = h.score


# --------------------------------------------------------------------------------------------- real models


@pytest.fixture(scope="module")
def reverse_run(tmp_path_factory):
    """A small rnn-attn trained briefly on string reversal: confident but not perfect, so beams matter."""
    run = tmp_path_factory.mktemp("reverse")
    assert main(["prepare", "--pairs", "builtin:reverse", "--num-examples", "2000", "--out", str(run), "--quiet"]) == 0
    assert main(["train", str(run), "--model", "rnn-attn", "--n-embd", "32", "--max-steps", "160", "--lr", "5e-3",
                 "--eval-interval", "160", "--seed", "2", "--threads", "1", "--quiet"]) == 0
    return run


@pytest.fixture(scope="module")
def trained(reverse_run):
    model, tokenizer, _ = load_model(reverse_run)
    store = PairStore(reverse_run)
    sources = [s for s, _ in store.texts("test")][:60]
    return model, store.source_tokenizer, tokenizer, sources


def model_logprob(model, src_row: torch.Tensor, tokens: list[int], ended: bool) -> float:
    """log P(tokens [+ <eos>] | source) from one teacher-forced forward pass (independent of the search)."""
    src = src_row[src_row != 0].unsqueeze(0)
    targets = tokens + ([EOS_ID] if ended else [])
    tgt_in = torch.tensor([[BOS_ID, *targets[:-1]]]) if targets else torch.tensor([[BOS_ID]])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(src, tgt_in).double(), -1)[0]
    return float(logprobs.gather(1, torch.tensor(targets).unsqueeze(1)).sum()) if targets else 0.0


def transformer_model():
    torch.manual_seed(3)
    return build({"family": "transformer", "src_vocab_size": 30, "tgt_vocab_size": 30, "n_embd": 32, "n_head": 4,
                  "n_layer": 1, "dropout": 0.0}).eval()


def test_beam_one_equals_greedy_on_trained_model(trained):
    model, src_tok, _, sources = trained
    src = encode_sources(src_tok, sources)
    g = greedy(model, src)
    for alpha in (0.0, 0.6, 2.0):
        b = beam_search(model, src, 1, alpha)
        assert [h.tokens for h in b] == [h.tokens for h in g]
        assert [h.score for h in b] == pytest.approx([h.score for h in g], abs=1e-5)


def test_returned_score_is_the_models_log_probability(trained):
    model, src_tok, _, sources = trained
    src = encode_sources(src_tok, sources[:12])
    for k in (1, 3, 5):
        for row, h in zip(src, beam_search(model, src, k, 0.6, n_best=3)):
            assert h.alternatives[0] is h and len(h.alternatives) >= 1
            for alt in h.alternatives:
                assert alt.score == pytest.approx(model_logprob(model, row, alt.tokens, alt.finish_reason == "eos"),
                                                  abs=1e-4)  # float32 sums, batched vs one row
    t_model = transformer_model()
    src = pad_batch([np.array([5, 6, 7, EOS_ID]), np.array([9, EOS_ID]), np.array([11, 12, 13, 14, 15, EOS_ID])])
    for k in (1, 4):
        for row, h in zip(src, beam_search(t_model, src, k, 0.0, max_length_extra=4)):
            assert h.score == pytest.approx(model_logprob(t_model, row, h.tokens, h.finish_reason == "eos"), abs=1e-5)
    for row, h in zip(src, greedy(t_model, src, max_length_extra=4)):
        assert h.score == pytest.approx(model_logprob(t_model, row, h.tokens, h.finish_reason == "eos"), abs=1e-5)


def test_larger_beams_never_return_a_lower_scoring_best(trained):
    """Beam search is a heuristic (a wider beam may in principle prune the path a narrower one kept);
    on a trained model, widening it must not lose log-probability on any sentence."""
    model, src_tok, _, sources = trained
    src = encode_sources(src_tok, sources)
    previous = None
    changed = 0
    for k in (1, 2, 4, 8):
        scores = np.array([h.score for h in beam_search(model, src, k, 0.0)])
        if previous is not None:
            assert np.all(scores >= previous - 1e-5)
            changed += int(np.sum(scores > previous + 1e-4))
        previous = scores
    assert changed > 0  # the model is unsure enough that wider beams do find better outputs


def test_batched_decoding_equals_one_sentence_at_a_time(trained):
    model, src_tok, tgt_tok, sources = trained
    batch = translate_texts(model, src_tok, tgt_tok, sources[:10], beam_size=4, batch_size=10)
    single = [translate_texts(model, src_tok, tgt_tok, [s], beam_size=4)[0] for s in sources[:10]]
    assert batch == single
    assert translate_texts(model, src_tok, tgt_tok, sources[:10], beam_size=1, batch_size=3) == [
        translate_texts(model, src_tok, tgt_tok, [s])[0] for s in sources[:10]]


def test_max_length_bounds_every_output(trained):
    model, src_tok, _, sources = trained
    src = encode_sources(src_tok, sources[:8])
    lengths = (src != 0).sum(1).tolist()
    for h, n in zip(beam_search(model, src, 3, 0.0, max_length_ratio=0.25, max_length_extra=1), lengths):
        assert len(h.tokens) <= int(np.ceil(0.25 * n)) + 1
    for h in greedy(model, src, max_length_ratio=0, max_length_extra=2):
        assert len(h.tokens) <= 2
