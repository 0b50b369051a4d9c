"""The Markov chain: counts, smoothing, NLTK parity, a source of known entropy rate, the protocol, storage."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genlab.errors import GenlabError
from genlab.evaluate import perplexity
from genlab.generate import SamplingConfig, complete
from genlab.models.markov import MarkovChain, MarkovConfig, load
from genlab.models.ngram_counts import NgramCounts, pad_documents
from genlab.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID

nltk_lm = pytest.importorskip("nltk.lm")
from nltk.util import everygrams, ngrams  # noqa: E402


# ---------------------------------------------------------------- helpers
def stream(docs: list[list[int]]) -> np.ndarray:
    """A token-store split: every document followed by <eos>."""
    return np.array([t for d in docs for t in [*d, EOS_ID]], dtype=np.int64)


def random_docs(rng: np.random.Generator, n: int, vocab: int, max_len: int = 9) -> list[list[int]]:
    """Documents from a random bigram source, so the n-gram statistics are not uniform."""
    trans = rng.dirichlet(np.full(vocab - 4, 0.4), size=vocab)
    docs = []
    for _ in range(n):
        prev, doc = BOS_ID, []
        for _ in range(int(rng.integers(1, max_len))):
            prev = 4 + int(rng.choice(vocab - 4, p=trans[prev]))
            doc.append(prev)
        docs.append(doc)
    return docs


def sym(i: int) -> str:
    """Our ids as NLTK strings: <bos>/<eos> are NLTK's <s>/</s>, <unk> is NLTK's <UNK>."""
    return {BOS_ID: "<s>", EOS_ID: "</s>", UNK_ID: "<UNK>", PAD_ID: "<pad>"}.get(int(i), f"w{int(i)}")


def nltk_padded(doc: list[int], order: int) -> list[str]:
    """genlab's padding in NLTK strings: N-1 <s> on the left (pad_both_ends), one </s> (the store's <eos>)."""
    return ["<s>"] * (order - 1) + [sym(t) for t in doc] + ["</s>"]


def nltk_model(cls, order: int, train: list[list[int]], vocab_size: int, **kw):
    """An NLTK model on the same tokens, padding and vocabulary as ours.

    Vocabulary convention aligned: ours is every tokenizer id; NLTK's is the distinct strings of the
    vocabulary text plus its implicit <UNK>. Feeding it <s>, </s>, <pad> and every word id once makes
    len(lm.vocab) == vocab_size (checked), which matters for Laplace's denominator.
    """
    lm = cls(order=order, **kw) if cls is not nltk_lm.Laplace else cls(order)
    vocab_text = [w for d in train for w in nltk_padded(d, order)] + [sym(i) for i in range(vocab_size) if i != UNK_ID]
    lm.fit([list(everygrams(nltk_padded(d, order), max_len=order)) for d in train], vocab_text)
    assert len(lm.vocab) == vocab_size
    return lm


def scored_terms(docs: list[list[int]], order: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (context, target) an order-N model scores on these documents, as NLTK's ngrams() cut them."""
    ctx, tgt = [], []
    for d in docs:
        for gram in ngrams([BOS_ID] * (order - 1) + list(d) + [EOS_ID], order):
            ctx.append(gram[:-1])
            tgt.append(gram[-1])
    return np.array(ctx, dtype=np.int64).reshape(len(tgt), order - 1), np.array(tgt, dtype=np.int64)


def our_term_logprobs(model: MarkovChain, docs: list[list[int]]) -> np.ndarray:
    """Per-token log-probabilities through the protocol, as `genlab eval` reads a split (<eos> first)."""
    s = np.concatenate([[EOS_ID], stream(docs)])
    lp = model.target_logprobs(torch.from_numpy(s[None, :-1]), torch.from_numpy(s[None, 1:]))
    return lp[0].numpy()


# ---------------------------------------------------------------- counting
def test_padding_puts_bos_before_every_document():
    ids = stream([[5, 6], [], [7]])
    assert pad_documents(ids, 3).tolist() == [2, 2, 5, 6, 3, 2, 2, 3, 2, 2, 7, 3]
    assert pad_documents(np.array([5, 6]), 2).tolist() == [2, 5, 6, 3]  # an unterminated document is closed


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_counts_equal_nltk_everygrams(order):
    docs = random_docs(np.random.default_rng(order), 30, 12)
    counts = NgramCounts.from_ids(stream(docs), order, 12)
    expected = Counter(g for d in docs for g in everygrams([BOS_ID] * (order - 1) + d + [EOS_ID], max_len=order))
    got = Counter()
    for k in range(1, order + 1):
        for key, n in zip(counts.keys[k - 1], counts.counts[k - 1]):
            if n:
                gram, node = [], int(key)
                for j in range(k, 0, -1):  # unpack the hierarchical key
                    gram.append(node % 12 if j > 1 else node)
                    node = int(counts.keys[j - 2][node // 12]) if j > 1 else node
                got[tuple(reversed(gram))] = int(n)
    assert got == expected


def test_ids_outside_the_vocabulary_are_refused():
    with pytest.raises(GenlabError, match="outside the vocabulary"):
        MarkovChain.fit(np.array([4, 9, EOS_ID]), 8, MarkovConfig(order=2))
    with pytest.raises(GenlabError, match="empty"):
        MarkovChain.fit(np.array([], dtype=np.int64), 8, MarkovConfig(order=2))


@pytest.mark.parametrize("cfg, message", [
    (MarkovConfig(order=1, smoothing="kn"), "--order 1"),
    (MarkovConfig(order=9), "between 1 and 8"),
    (MarkovConfig(smoothing="kn", discount=1.5), "discount"),
    (MarkovConfig(smoothing="kn", discount=0.0), "discount"),
    (MarkovConfig(smoothing="laplace", k=0.5), "add-k"),
    (MarkovConfig(smoothing="add-k", k=0.0), "mle"),
    (MarkovConfig(smoothing="witten-bell"), "unknown --smoothing"),
])
def test_bad_settings_are_clear_errors(cfg, message):
    with pytest.raises(GenlabError, match=message):
        cfg.validate()


# ---------------------------------------------------------------- distributions (property test)
@st.composite
def fitted(draw):
    vocab = draw(st.integers(5, 11))
    docs = draw(st.lists(st.lists(st.integers(4, vocab - 1), max_size=7), min_size=1, max_size=7))
    smoothing = draw(st.sampled_from(["mle", "laplace", "add-k", "kn"]))
    order = draw(st.integers(2 if smoothing == "kn" else 1, 4))
    cfg = MarkovConfig(order=order, smoothing=smoothing, k=draw(st.floats(0.01, 3.0)) if smoothing == "add-k" else 1.0,
                       discount=draw(st.floats(0.05, 1.0)))
    seed = draw(st.integers(0, 2**32 - 1))
    return MarkovChain.fit(stream(docs), vocab, cfg), stream(docs), seed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fitted())
def test_probabilities_sum_to_one_in_seen_and_unseen_contexts(case):
    model, ids, seed = case
    rng = np.random.default_rng(seed)
    n = model.order - 1
    seen = model._contexts(np.concatenate([[EOS_ID], ids])[None, :])[0]
    unseen = rng.integers(0, model.vocab_size, size=(8, n))  # mostly never-seen contexts (incl. <unk>, <pad>)
    contexts = np.concatenate([seen, unseen])
    dist = model.distribution(contexts)
    sums = dist.sum(axis=1)
    if model.config.smoothing == "mle":  # a distribution only where the context was seen
        total = model.counts.context_total(model.order)
        node = model.counts.context_node(contexts)
        has_data = (node >= 0) & (total[np.maximum(node, 0)] > 0)
        assert has_data[: len(seen)].all()
        np.testing.assert_allclose(sums[has_data], 1.0, rtol=0, atol=1e-9)
        assert (sums[~has_data] == 0).all()
    else:
        np.testing.assert_allclose(sums, 1.0, rtol=0, atol=1e-9)
    # the per-token path and the whole-vocabulary path agree
    targets = rng.integers(0, model.vocab_size, size=len(contexts))
    np.testing.assert_allclose(model.prob(contexts, targets), dist[np.arange(len(contexts)), targets], rtol=1e-12)


# ---------------------------------------------------------------- NLTK parity
@pytest.mark.parametrize("order", [1, 2, 3])
def test_laplace_perplexity_equals_nltk(order):
    rng = np.random.default_rng(10 + order)
    train, test = random_docs(rng, 40, 14), random_docs(rng, 12, 14)
    test[3].insert(1, UNK_ID)  # an unknown token: Laplace still gives it probability
    lm = nltk_model(nltk_lm.Laplace, order, train, 14)
    theirs = lm.perplexity([g for d in test for g in ngrams(nltk_padded(d, order), order)])
    model = MarkovChain.fit(stream(train), 14, MarkovConfig(order=order, smoothing="laplace"))
    ours = perplexity(model, stream(test), window=16, batch_size=3)
    assert ours.tokens == sum(len(d) + 1 for d in test)
    assert ours.perplexity == pytest.approx(theirs, rel=1e-6)


def test_add_k_equals_nltk_lidstone():
    rng = np.random.default_rng(3)
    train, test = random_docs(rng, 30, 10), random_docs(rng, 8, 10)
    lm = nltk_model(nltk_lm.Lidstone, 3, train, 10, gamma=0.3)
    model = MarkovChain.fit(stream(train), 10, MarkovConfig(order=3, smoothing="add-k", k=0.3))
    ctx, tgt = scored_terms(test, 3)
    theirs = [lm.score(sym(w), [sym(x) for x in c]) for c, w in zip(ctx, tgt)]
    np.testing.assert_allclose(model.prob(ctx, tgt), theirs, rtol=1e-9)


def test_kneser_ney_bigram_perplexity_equals_nltk():
    rng = np.random.default_rng(5)
    train, test = random_docs(rng, 50, 12), random_docs(rng, 15, 12)
    lm = nltk_model(nltk_lm.KneserNeyInterpolated, 2, train, 12, discount=0.75)
    theirs = lm.perplexity([g for d in test for g in ngrams(nltk_padded(d, 2), 2)])
    assert math.isfinite(theirs)  # every test token was seen in training
    model = MarkovChain.fit(stream(train), 12, MarkovConfig(order=2, smoothing="kn", discount=0.75))
    assert perplexity(model, stream(test), window=32, batch_size=2).perplexity == pytest.approx(theirs, rel=1e-6)


@pytest.mark.parametrize("order, discount", [(3, 0.75), (3, 0.1), (4, 0.5)])
def test_kneser_ney_equals_nltk_wherever_nltk_is_right(order, discount):
    """Term by term: equal to NLTK except where NLTK is defective (see genlab/models/markov.py).

    NLTK is wrong (1) at a document start, where its distribution sums to more than 1, and (2) for a
    token never seen in training, which it gives probability 0; genlab sums to 1 and stays finite.
    """
    rng = np.random.default_rng(order * 100 + int(discount * 10))
    vocab = 12
    train, test = random_docs(rng, 50, vocab), random_docs(rng, 12, vocab)
    test[2].insert(2, UNK_ID)
    lm = nltk_model(nltk_lm.KneserNeyInterpolated, order, train, vocab, discount=discount)
    model = MarkovChain.fit(stream(train), vocab, MarkovConfig(order=order, smoothing="kn", discount=discount))
    ctx, tgt = scored_terms(test, order)
    theirs = np.array([lm.score(sym(w), [sym(x) for x in c]) for c, w in zip(ctx, tgt)])
    ours = np.exp(our_term_logprobs(model, test))  # through the protocol, as `genlab eval` scores
    np.testing.assert_allclose(ours, model.prob(ctx, tgt), rtol=1e-12)

    doc_start = (ctx == BOS_ID).all(axis=1)
    right = (theirs > 0) & ~doc_start
    assert right.sum() > 0.7 * len(tgt)
    np.testing.assert_allclose(ours[right], theirs[right], rtol=1e-9)
    # where NLTK agrees with itself being a distribution, so do the perplexities
    assert np.exp(-np.log(ours[right]).mean()) == pytest.approx(np.exp(-np.log(theirs[right]).mean()), rel=1e-6)

    # defect 1: after <s>…<s> NLTK's probabilities add up to more than 1; ours to 1
    start = [sym(BOS_ID)] * (order - 1)
    nltk_sum = sum(lm.score(sym(w), start) for w in range(vocab) if w != UNK_ID) + lm.score("<UNK>", start)
    assert nltk_sum > 1 + 1e-6
    assert model.distribution(np.full((1, order - 1), BOS_ID)).sum() == pytest.approx(1.0, abs=1e-12)
    # defect 2: NLTK gives the unseen token zero probability; genlab a small positive one
    unk = tgt == UNK_ID
    assert (theirs[unk] == 0).all() and (ours[unk] > 0).all() and (ours[unk] < 1e-2).all()


# ---------------------------------------------------------------- a source of known entropy rate
def order2_source(rng: np.random.Generator, symbols: int = 20):
    """A random order-2 chain: P(c | a, b) ~ Dirichlet(0.5); returns (transition, entropy rate in nats)."""
    trans = rng.dirichlet(np.full(symbols, 0.5), size=(symbols, symbols))
    q = np.zeros((symbols * symbols, symbols * symbols))  # the chain on pairs (a, b) -> (b, c)
    for a in range(symbols):
        for b in range(symbols):
            q[a * symbols + b, b * symbols:(b + 1) * symbols] = trans[a, b]
    pi = np.full(symbols * symbols, 1.0 / symbols**2)
    for _ in range(500):
        pi = pi @ q
    entropy = -(trans * np.log(trans)).sum(axis=-1).reshape(-1)
    return trans, float(pi @ entropy)


def sample_chain(rng: np.random.Generator, trans: np.ndarray, chains: int, length: int) -> list[list[int]]:
    """``chains`` independent trajectories, stepped together (vectorised over chains); ids start at 4."""
    symbols = trans.shape[0]
    cdf = np.cumsum(trans, axis=-1)
    out = np.empty((chains, length), dtype=np.int64)
    a, b = rng.integers(0, symbols, chains), rng.integers(0, symbols, chains)
    for _ in range(50):  # burn in towards the stationary distribution
        a, b = b, np.minimum((cdf[a, b] < rng.random(chains)[:, None]).sum(1), symbols - 1)
    for t in range(length):
        a, b = b, np.minimum((cdf[a, b] < rng.random(chains)[:, None]).sum(1), symbols - 1)
        out[:, t] = b
    return [list(row + 4) for row in out]


def test_order2_source_perplexity_matches_its_entropy_rate():
    """A chain with two tokens of context (``--order 3``) recovers exp(entropy rate) within 2 %;
    one token of context (``--order 2``) is measurably worse."""
    rng = np.random.default_rng(2024)
    trans, rate = order2_source(rng)
    train = stream(sample_chain(rng, trans, 100, 12_000))  # 1.2 M tokens, ~3000 per context
    held_out = stream(sample_chain(rng, trans, 20, 10_000))  # 200 k tokens
    target = math.exp(rate)
    ppl = {}
    for order in (2, 3):
        model = MarkovChain.fit(train, 24, MarkovConfig(order=order, smoothing="kn"))
        ppl[order] = perplexity(model, held_out, window=4096, batch_size=8).perplexity
    assert ppl[3] == pytest.approx(target, rel=0.02)
    assert ppl[2] > 1.1 * ppl[3]


# ---------------------------------------------------------------- the language-model protocol
@pytest.fixture(scope="module")
def chain() -> MarkovChain:
    docs = random_docs(np.random.default_rng(7), 60, 16)
    return MarkovChain.fit(stream(docs), 16, MarkovConfig(order=3, smoothing="kn"))


def test_protocol_attributes_and_start_state(chain):
    assert chain.vocab_size == 16 and chain.context_size == 2
    assert (chain.start(3) == BOS_ID).all() and chain.start(3).shape == (3, 2)


def test_step_prefill_and_logits_agree(chain):
    tokens = torch.tensor([[EOS_ID, 5, 6, 7, EOS_ID, 8, 9], [EOS_ID, 9, 9, EOS_ID, 4, 4, 5]])
    full = chain.logits(tokens)
    assert full.shape == (2, 7, 16)
    np.testing.assert_allclose(torch.logsumexp(full, -1).numpy(), 0.0, atol=1e-5)
    state = chain.start(2)
    for t in range(tokens.shape[1]):
        step_logits, state = chain.step(tokens[:, t], state)
        torch.testing.assert_close(step_logits, full[:, t])
    pre, pre_state = chain.prefill(tokens, chain.start(2))
    torch.testing.assert_close(pre, full[:, -1])
    assert (pre_state == state).all()
    targets = torch.tensor([[5, 6, 7, EOS_ID, 8, 9, 4], [9, 9, EOS_ID, 4, 4, 5, 6]])
    lp = chain.target_logprobs(tokens, targets)
    torch.testing.assert_close(lp.float(), full.gather(-1, targets[..., None])[..., 0], rtol=1e-5, atol=1e-5)


def test_eos_resets_the_context_to_a_document_start(chain):
    after_eos, _ = chain.step(torch.tensor([EOS_ID]), np.array([[7, 8]]))
    fresh, _ = chain.step(torch.tensor([EOS_ID]), chain.start(1))
    torch.testing.assert_close(after_eos, fresh)
    with np.errstate(divide="ignore"):  # <pad> has probability 0
        expected = np.log(chain.distribution(np.full((1, 2), BOS_ID)))
    np.testing.assert_allclose(fresh.numpy(), expected.astype(np.float32), rtol=1e-6)


def test_generation_is_repeatable_with_a_seed(chain):
    tok = _char_tokenizer(16)
    cfg = SamplingConfig(max_tokens=30, temperature=0.9, top_k=8, seed=3)
    first = complete(chain, tok, "ab", cfg, num=4)
    second = complete(chain, tok, "ab", cfg, num=4)
    assert [c.text for c in first] == [c.text for c in second]
    assert all(c.tokens for c in first)
    assert all(t.id not in (PAD_ID, UNK_ID) for c in first for t in c.tokens)


@pytest.mark.parametrize("smoothing", ["kn", "laplace", "add-k", "mle", "stupid-backoff"])
def test_fast_sampler_draws_from_the_model_distribution(smoothing):
    docs = random_docs(np.random.default_rng(11), 40, 10)
    model = MarkovChain.fit(stream(docs), 10, MarkovConfig(order=3, smoothing=smoothing,
                                                            k=0.2 if smoothing == "add-k" else 1.0))
    contexts = np.array([[BOS_ID, BOS_ID], [BOS_ID, 5], [6, 7], [UNK_ID, 8], [9, 9]])
    dist = model.distribution(contexts)
    # stupid backoff is sampled from its normalised scores; an unseen mle context (an all-zero row) has no
    # distribution, and the sampler falls back to uniform, as the shared sampling loop does
    sums = dist.sum(axis=1, keepdims=True)
    dist = np.where(sums > 0, dist / np.where(sums > 0, sums, 1.0), 1 / 10)
    assert smoothing == "mle" or (sums > 0).all()
    draws = 40_000
    tokens = model.draw(np.repeat(contexts, draws, axis=0), np.random.default_rng(0).random(len(contexts) * draws))
    freq = np.stack([np.bincount(row, minlength=10) / draws for row in tokens.reshape(len(contexts), draws)])
    np.testing.assert_allclose(freq, dist, atol=0.012)  # ~5 standard errors at p = 1/2
    assert ((freq > 0) <= (dist > 0)).all()  # never a token of probability 0


def test_fast_sampler_is_repeatable_and_ends_documents_with_eos(chain):
    first = chain.sample(6, max_tokens=40, seed=5, prompt=[5, 6])
    again = chain.sample(6, max_tokens=40, seed=5, prompt=[5, 6])
    assert [d.tolist() for d in first] == [d.tolist() for d in again]
    assert all(len(d) == 40 or (d[-1] == EOS_ID and EOS_ID not in d[:-1]) for d in first)
    other = chain.sample(6, max_tokens=40, seed=6, prompt=[5, 6])
    assert [d.tolist() for d in other] != [d.tolist() for d in first]


def test_mle_reports_unseen_tokens_as_impossible():
    train = [[4, 5, 6], [4, 5, 7]]
    model = MarkovChain.fit(stream(train), 8, MarkovConfig(order=2, smoothing="mle"))
    lp = our_term_logprobs(model, [[4, 6]])
    assert lp[0] == pytest.approx(0.0)  # <bos> → 4: always
    assert np.isneginf(lp[1])  # 4 → 6 never seen
    report = perplexity(model, stream([[4, 6]]))
    assert report.infinite == 1 and math.isinf(report.perplexity)


def test_stupid_backoff_generates_but_refuses_perplexity():
    model = MarkovChain.fit(stream([[4, 5, 6], [7, 5, 8]]), 10, MarkovConfig(order=3, smoothing="stupid-backoff"))
    with pytest.raises(GenlabError, match="not probabilities"):
        perplexity(model, stream([[4, 5, 6]]))
    ctx = np.array([[4, 5]] * 4)
    # seen trigram: its relative frequency; unseen: 0.4 x the bigram score, then 0.4 x 0.4 x the unigram
    # frequency (8 text tokens: <bos> padding is not counted); never seen at all: 0
    np.testing.assert_allclose(model.prob(ctx, np.array([6, 8, 4, 9])), [1.0, 0.4 * 0.5, 0.16 / 8, 0.0])
    logits, _ = model.step(torch.tensor([EOS_ID]), model.start(1))
    assert torch.exp(logits[0, [4, 7]]).tolist() == pytest.approx([0.5, 0.5])
    text = complete(model, _char_tokenizer(10), "", SamplingConfig(max_tokens=5, seed=0))[0]
    assert text.finish_reason in ("stop", "length")


def _char_tokenizer(vocab_size: int):
    from genlab.tokenizers import train as train_tokenizer

    tok = train_tokenizer("char", ["abcdefghijklmnop"[: vocab_size - 4]])
    assert tok.vocab_size == vocab_size
    return tok


# ---------------------------------------------------------------- saving and loading
def test_save_load_round_trip_gives_identical_perplexity(tmp_path, chain):
    chain.save(tmp_path, {"tokenizer_fingerprint": "x"})
    import json

    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"]["family"] == "markov" and config["model"]["order"] == 3
    again = load(tmp_path, config)
    data = stream(random_docs(np.random.default_rng(99), 20, 16))
    assert perplexity(again, data).nll_nats == perplexity(chain, data).nll_nats
    assert not list(tmp_path.glob("*.tmp"))


def test_truncated_or_altered_model_file_is_a_clear_error(tmp_path, chain):
    import json

    chain.save(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    path = tmp_path / "model.safetensors"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(GenlabError, match="corrupted or truncated"):
        load(tmp_path, config)

    from genlab.checkpoint import save_numpy

    arrays = chain.counts.to_arrays()
    arrays["keys.3"] = arrays["keys.3"][::-1].copy()
    save_numpy(path, arrays)
    with pytest.raises(GenlabError, match="damaged"):
        load(tmp_path, config)
    config["model"]["order"] = 4
    save_numpy(path, chain.counts.to_arrays())
    with pytest.raises(GenlabError, match="damaged"):
        load(tmp_path, config)
