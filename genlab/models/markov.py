"""The Markov chain language model (마르코프 체인): the course's first language-generation model.

An order-N chain predicts a token from the N-1 tokens before it, P(w | h), with probabilities estimated by
counting n-grams in the training split (``genlab.models.ngram_counts``). ``--order N`` means N-gram, as in
NLTK. The vocabulary is the tokenizer's ids, all of them (``<pad>``, ``<unk>``, ``<bos>``, ``<eos>`` included),
so every smoothing that claims to be a distribution sums to 1 over ``vocab_size`` ids.

Smoothing (``MarkovConfig.smoothing``):

``mle``
    c(h w) / c(h). Unseen n-grams get probability 0 (log-prob −inf, counted by ``genlab eval`` as
    zero-probability tokens); an unseen context gives an all-zero row.
``add-k`` / ``laplace``
    (c(h w) + k) / (c(h) + k·V); Laplace is k = 1. Equal to ``nltk.lm.Lidstone``/``Laplace``.
``kn``
    Interpolated Kneser–Ney with one absolute discount d at every order, in NLTK's formulation
    (``nltk.lm.KneserNeyInterpolated``; Chen & Goodman 1998 §2.6 without modified discounts)::

        P_N(w|h) = max(c(h w) − d, 0) / c(h)  +  d·N₁₊(h •) / c(h) · P_{N−1}(w | h⁻)     (raw counts)
        P_k(w|h) = max(N₁₊(• h w) − d, 0) / N₁₊(• h •)  +  d·N₁₊'(h •) / N₁₊(• h •) · P_{k−1}(w | h⁻)
        P_1(w)   = N₁₊(• w) / N₁₊(• •)                                            (continuation counts)

    where h⁻ drops the oldest token, N₁₊(• h w) counts distinct tokens seen before ``h w``, and an unseen
    context passes straight to the lower order (NLTK: alpha 0, gamma 1). It equals NLTK to rounding error
    except in two places where NLTK is defective (tests/models/test_markov.py checks both):

    1. *Document starts (N ≥ 3).* For the lower-order weight N₁₊'(h •), NLTK counts distinct raw
       followers of h; for h = ``<bos>``×(N-2) that includes ``<bos>`` itself, seen only in the padding at
       the very start of a document and never with a token before it, so it has no continuation count.
       NLTK's distribution after ``<bos>``×(N-1) therefore sums to more than 1 (1 + d²·N₁₊(h •)/(c(h)·F)).
       genlab counts followers with a nonzero continuation count, so it sums to 1; only the first token of
       each document scores differently.
    2. *Unseen tokens.* NLTK gives any token without a continuation count probability 0, so one
       out-of-vocabulary word makes perplexity infinite (nltk/nltk#3211). Its unigram level does give a
       share to ``<bos>`` (N ≥ 3), from the all-padding bigram ``<bos> <bos>``, though ``<bos>`` is
       never predicted. genlab moves exactly that share to the ids training never produced (``<unk>``
       and unused ids; not ``<pad>``), split evenly, so they keep a small nonzero probability while every
       seen token keeps NLTK's probability. With N = 2 there is no such share and unseen tokens stay at 0
       as in NLTK; use N ≥ 3, or laplace.

    The discount must be in (0, 1]; d > 1 would not leave a distribution. ``--order 1`` has no lower order
    to interpolate with and is refused.
``stupid-backoff``
    Brants et al. (2007): c(h w)/c(h) if seen, else 0.4 × the score with a shorter context, down to the
    unigram frequency (``<bos>`` padding excluded). The scores do not sum to 1, so it serves generation
    only (the sampler normalises them); perplexity refuses it.

The chain speaks the language-model protocol (``genlab.models.protocol``): ``context_size = N-1``, ``start``
is the all-``<bos>`` context, ``step`` with ``<eos>`` resets to it (the next token starts a document), and
``target_logprobs`` scores any number of positions with vectorised table lookups. ``sample`` is the chain's
own fast sampler at temperature 1 (exact inverse-CDF draws through the interpolation levels, no ``[B, V]``
rows); temperature, top-k and top-p go through the shared loop in ``genlab.generate``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.checkpoint import load_numpy, save_numpy, write_json
from genlab.errors import GenlabError
from genlab.models.ngram_counts import MAX_ORDER, NgramCounts
from genlab.tokenizers import BOS_ID, EOS_ID, PAD_ID

SMOOTHINGS = ("mle", "laplace", "add-k", "kn", "stupid-backoff")
MODEL_FILE = "model.safetensors"
#: rows of a dense [rows, V] distribution computed at once (bounds memory of ``logits``)
_DENSE_CHUNK = 1 << 22


@dataclass
class MarkovConfig:
    """Every setting of a chain; saved in ``config.json`` under ``model``."""

    order: int = 3
    smoothing: str = "kn"
    k: float = 1.0  # add-k pseudo-count (laplace: 1)
    discount: float = 0.75  # kn absolute discount
    backoff: float = 0.4  # stupid-backoff multiplier

    def validate(self) -> None:
        if not isinstance(self.order, int) or not 1 <= self.order <= MAX_ORDER:
            raise GenlabError(f"--order must be between 1 and {MAX_ORDER}, got {self.order}")
        if self.smoothing not in SMOOTHINGS:
            raise GenlabError(f"unknown --smoothing {self.smoothing!r}; choose one of {', '.join(SMOOTHINGS)}")
        if self.smoothing == "laplace" and self.k != 1:
            raise GenlabError("laplace is add-k with k = 1; for another k use --smoothing add-k --k K")
        if self.smoothing == "add-k" and not (0 < self.k < float("inf")):
            raise GenlabError("--k must be > 0 for add-k (k = 0 is --smoothing mle)")
        if self.smoothing == "kn":
            if self.order < 2:
                raise GenlabError("Kneser-Ney interpolates with lower orders, and --order 1 has none; "
                                  "use --order 2 or more, or --smoothing laplace")
            if not 0 < self.discount <= 1:
                raise GenlabError(f"--discount must be in (0, 1] for Kneser-Ney, got {self.discount}")
        if self.smoothing == "stupid-backoff" and not 0 < self.backoff <= 1:
            raise GenlabError(f"the stupid-backoff multiplier must be in (0, 1], got {self.backoff}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MarkovConfig:
        try:
            cfg = cls(order=int(data["order"]), smoothing=str(data["smoothing"]), k=float(data.get("k", 1.0)),
                      discount=float(data.get("discount", 0.75)), backoff=float(data.get("backoff", 0.4)))
        except (KeyError, TypeError, ValueError) as exc:
            raise GenlabError(f"config.json has an invalid Markov model section ({exc}); retrain the model") from exc
        cfg.validate()
        return cfg


class MarkovChain:
    """An order-N Markov chain over token ids: n-gram counts plus a smoothing rule."""

    is_seq2seq = False
    #: the state keeps only the last N-1 tokens, so ``generate`` may feed it the whole prompt
    truncate_prompt = False

    def __init__(self, counts: NgramCounts, config: MarkovConfig) -> None:
        config.validate()
        if counts.order != config.order:
            raise GenlabError(f"counts are of order {counts.order} but the config says {config.order}")
        self.counts = counts
        self.config = config
        self.order = config.order
        self.vocab_size = counts.vocab_size
        self.context_size = config.order - 1
        self._prepare()

    @classmethod
    def fit(cls, ids: np.ndarray, vocab_size: int, config: MarkovConfig, progress: bool = False) -> MarkovChain:
        """Count the n-grams of a token store split (documents each followed by ``<eos>``)."""
        config.validate()
        return cls(NgramCounts.from_ids(ids, config.order, vocab_size, progress=progress), config)

    # ------------------------------------------------------------ smoothing tables
    def _prepare(self) -> None:
        """Precompute per-n-gram terms so scoring is lookups and one multiply-add per order."""
        c, N, s = self.counts, self.order, self.config.smoothing
        if s == "kn":
            d = self.config.discount
            # continuation counts: cont[k][j] = distinct tokens seen before k-gram j (k < N)
            cont = {k: np.bincount(c.suffix(k + 1), minlength=c.size(k)).astype(np.float64) for k in range(1, N)}
            total = cont[1].sum()
            if total == 0:
                raise GenlabError("the training data has no bigrams; Kneser-Ney needs more text")
            p1 = cont[1] / total
            unseen = cont[1] == 0
            unseen[[PAD_ID, BOS_ID]] = False
            if p1[BOS_ID] > 0 and unseen.any():  # NLTK's share for <bos> goes to ids never seen instead
                p1[unseen] = p1[BOS_ID] / unseen.sum()
                p1[BOS_ID] = 0.0
            self._base = p1
            self._alpha: dict[int, np.ndarray] = {}
            self._gamma: dict[int, np.ndarray] = {}
            for k in range(2, N + 1):
                parent = c.parent(k)
                if k == N:
                    num = c.counts[k - 1].astype(np.float64)
                    norm = c.context_total(k)
                    types = c.context_types(k).astype(np.float64)
                else:
                    num = cont[k]
                    norm = np.bincount(parent, weights=num, minlength=c.size(k - 1))
                    types = np.bincount(parent[num > 0], minlength=c.size(k - 1)).astype(np.float64)
                with np.errstate(divide="ignore", invalid="ignore"):
                    self._alpha[k] = np.where(norm[parent] > 0, np.maximum(num - d, 0.0) / norm[parent], 0.0)
                    # gamma is NaN for contexts with no data: they pass straight to the lower order
                    self._gamma[k] = np.where(norm > 0, d * types / norm, np.nan)
        elif s == "stupid-backoff":
            base = c.counts[0].astype(np.float64)
            base[BOS_ID] = 0.0  # padding, not text
            self._base = base / base.sum()
            self._rel = {k: c.counts[k - 1] / c.context_total(k)[c.parent(k)] for k in range(2, N + 1)}
        else:
            self._k = 0.0 if s == "mle" else float(self.config.k)

    # ------------------------------------------------------------ probabilities
    def _as_contexts(self, context: np.ndarray) -> np.ndarray:
        context = np.asarray(context, dtype=np.int64)
        if context.ndim != 2 or context.shape[1] != self.order - 1:
            raise ValueError(f"contexts must be [M, {self.order - 1}] token ids, got shape {context.shape}")
        return context

    def _suffix_nodes(self, context: np.ndarray) -> dict[int, np.ndarray]:
        """Node of the last L tokens of each context, for L = 0…N-1 (the context of order L+1)."""
        return {L: self.counts.context_node(context[:, context.shape[1] - L:]) for L in range(self.order)}

    def prob(self, context: np.ndarray, target: np.ndarray) -> np.ndarray:
        """P(target | context) for many queries: ``context`` ``[M, N-1]`` ids, ``target`` ``[M]`` → float64 ``[M]``.

        For stupid-backoff these are its (unnormalised) scores.
        """
        c, N, s = self.counts, self.order, self.config.smoothing
        context = self._as_contexts(context)
        target = np.asarray(target, dtype=np.int64).reshape(-1)
        if s in ("mle", "laplace", "add-k"):
            h = c.context_node(context)
            total = np.where(h >= 0, c.context_total(N)[np.maximum(h, 0)], 0.0)
            j = c.lookup(N, h, target)
            hits = np.where(j >= 0, c.counts[N - 1][np.maximum(j, 0)], 0).astype(np.float64)
            V = self.vocab_size
            with np.errstate(divide="ignore", invalid="ignore"):
                p = (hits + self._k) / (total + self._k * V)
            return np.nan_to_num(p, nan=0.0)  # mle, unseen context
        nodes = self._suffix_nodes(context)
        p = self._base[target].copy()
        for k in range(2, N + 1):
            h = nodes[k - 1]
            j = c.lookup(k, h, target)
            found = j >= 0
            if s == "kn":
                gamma = np.where(h >= 0, self._gamma[k][np.maximum(h, 0)], np.nan)
                seen = ~np.isnan(gamma)
                alpha = np.where(found, self._alpha[k][np.maximum(j, 0)], 0.0)
                p = np.where(seen, alpha + np.nan_to_num(gamma) * p, p)
            else:  # stupid backoff: relative frequency where the n-gram was seen, else a discounted lower score
                seen = (h >= 0) & (c.context_total(k)[np.maximum(h, 0)] > 0)
                p = np.where(found, self._rel[k][np.maximum(j, 0)], np.where(seen, self.config.backoff * p, p))
        return p

    def distribution(self, context: np.ndarray) -> np.ndarray:
        """P(· | context) over the whole vocabulary: ``[M, N-1]`` → float64 ``[M, V]``."""
        c, N, s, V = self.counts, self.order, self.config.smoothing, self.vocab_size
        context = self._as_contexts(context)
        m = len(context)
        if s in ("mle", "laplace", "add-k"):
            h = c.context_node(context)
            out = np.zeros((m, V))
            rows, idx = c.follower_slices(N, h)
            out[rows, c.last(N)[idx] if N > 1 else idx] = c.counts[N - 1][idx]
            total = np.where(h >= 0, c.context_total(N)[np.maximum(h, 0)], 0.0)
            with np.errstate(divide="ignore", invalid="ignore"):
                out = (out + self._k) / (total + self._k * V)[:, None]
            return np.nan_to_num(out, nan=0.0)
        nodes = self._suffix_nodes(context)
        out = np.tile(self._base, (m, 1))
        for k in range(2, N + 1):
            h = nodes[k - 1]
            rows, idx = c.follower_slices(k, h)
            words = c.last(k)[idx]
            if s == "kn":
                gamma = np.where(h >= 0, self._gamma[k][np.maximum(h, 0)], np.nan)
                seen = ~np.isnan(gamma)
                out[seen] *= gamma[seen, None]
                out[rows, words] += self._alpha[k][idx]  # rows with followers are seen rows
            else:
                seen = (h >= 0) & (c.context_total(k)[np.maximum(h, 0)] > 0)
                out[seen] *= self.config.backoff
                out[rows, words] = self._rel[k][idx]
        return out

    # ------------------------------------------------------------ the language-model protocol
    def _check_ids(self, ids: np.ndarray) -> None:
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise GenlabError(f"token id {int(ids.max())} is outside this model's vocabulary ({self.vocab_size}); "
                              "the data was made with another tokenizer")

    def _contexts(self, tokens: np.ndarray) -> np.ndarray:
        """The N-1 tokens before each next-token prediction: ``[B, T]`` → ``[B, T, N-1]``.

        Position t predicts the token after ``tokens[:, t]``; its context is ``tokens[:, t-N+2 … t]``, with
        everything at or before the latest ``<eos>`` replaced by ``<bos>`` (a new document), and the row
        start treated as a document start.
        """
        b, t = tokens.shape
        n = self.order - 1
        if n == 0:
            return np.zeros((b, t, 0), dtype=np.int64)
        idx = np.arange(t)
        last_eos = np.maximum.accumulate(np.where(tokens == EOS_ID, idx, -1), axis=1)  # [B, T]
        pos = idx[:, None] - n + 1 + np.arange(n)[None, :]  # [T, n] positions of the context tokens
        gathered = np.take_along_axis(tokens, np.clip(pos, 0, None).reshape(1, -1).repeat(b, 0), axis=1)
        gathered = gathered.reshape(b, t, n)
        live = pos[None, :, :] > last_eos[:, :, None]
        return np.where(live, gathered, BOS_ID)

    @staticmethod
    def _to_numpy(tokens: torch.Tensor | np.ndarray) -> np.ndarray:
        if isinstance(tokens, torch.Tensor):
            return tokens.detach().to("cpu", torch.int64).numpy()
        return np.asarray(tokens, dtype=np.int64)

    @staticmethod
    def _to_torch(values: np.ndarray, like: Any, dtype: torch.dtype) -> torch.Tensor:
        device = like.device if isinstance(like, torch.Tensor) else torch.device("cpu")
        if device.type == "mps":  # no float64 there
            dtype = torch.float32
        return torch.from_numpy(values).to(device=device, dtype=dtype)

    def _log_distribution(self, context: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.distribution(context))

    def start(self, batch_size: int) -> np.ndarray:
        """The context of a document start: N-1 ``<bos>`` per row."""
        return np.full((batch_size, self.order - 1), BOS_ID, dtype=np.int64)

    def _advance(self, state: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        if self.order == 1:
            return state
        state = np.concatenate([state[:, 1:], tokens[:, None]], axis=1)
        state[tokens == EOS_ID] = BOS_ID  # after <eos> a new document starts
        return state

    def step(self, tokens: torch.Tensor, state: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Feed one token per row; returns log P(next | context) ``[B, V]`` and the new context."""
        ids = self._to_numpy(tokens).reshape(-1)
        self._check_ids(ids)
        state = self._advance(np.asarray(state, dtype=np.int64), ids)
        return self._to_torch(self._log_distribution(state), tokens, torch.float32), state

    def prefill(self, tokens: torch.Tensor, state: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Feed a ``[B, T]`` prompt: only the last N-1 tokens matter, so one distribution is computed."""
        ids = self._to_numpy(tokens)
        self._check_ids(ids)
        state = np.asarray(state, dtype=np.int64)
        for t in range(ids.shape[1]):
            state = self._advance(state, ids[:, t])
        return self._to_torch(self._log_distribution(state), tokens, torch.float32), state

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """log P(next | context) at every position, ``[B, T]`` → ``[B, T, V]`` (−inf: impossible)."""
        ids = self._to_numpy(tokens)
        self._check_ids(ids)
        b, t = ids.shape
        ctx = self._contexts(ids).reshape(b * t, self.order - 1)
        out = np.empty((b * t, self.vocab_size), dtype=np.float32)
        rows = max(1, _DENSE_CHUNK // max(self.vocab_size, 1))
        for i in range(0, b * t, rows):
            out[i:i + rows] = self._log_distribution(ctx[i:i + rows])
        return self._to_torch(out.reshape(b, t, self.vocab_size), tokens, torch.float32)

    def target_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """log P(targets[t] | inputs[…t]) ``[B, T]`` in float64, without building ``[B, T, V]`` scores."""
        if self.config.smoothing == "stupid-backoff":
            raise GenlabError("stupid-backoff scores are not probabilities (they do not sum to 1), so perplexity "
                              "is undefined; use it for generation, or retrain with --smoothing kn or laplace")
        ids, tgt = self._to_numpy(inputs), self._to_numpy(targets)
        self._check_ids(ids)
        self._check_ids(tgt)
        b, t = ids.shape
        ctx = self._contexts(ids).reshape(b * t, self.order - 1)
        with np.errstate(divide="ignore"):
            lp = np.log(self.prob(ctx, tgt.reshape(-1))).reshape(b, t)
        return self._to_torch(lp, inputs, torch.float64)

    # ------------------------------------------------------------ fast ancestral sampling
    def _cumulative(self, name: str, k: int, weights: np.ndarray) -> np.ndarray:
        """``[0, w₀, w₀+w₁, …]`` over a whole sorted table, so any slice's running sum is a difference."""
        key = f"_cum_{name}_{k}"
        if key not in self.__dict__:
            self.__dict__[key] = np.concatenate([[0.0], np.cumsum(weights, dtype=np.float64)])
        return self.__dict__[key]

    def _pick(self, k: int, h: np.ndarray, mass: np.ndarray, cum: np.ndarray) -> np.ndarray:
        """Inverse-CDF choice among the followers of context nodes ``h`` (order k): ``mass`` ∈ [0, slice total)."""
        if k == 1:
            lo, hi = np.zeros_like(h), np.full_like(h, self.vocab_size)
        else:
            table = self.counts.keys[k - 1]
            lo = np.searchsorted(table, h * self.vocab_size)
            hi = np.searchsorted(table, (h + 1) * self.vocab_size)
        j = np.searchsorted(cum, cum[lo] + mass, side="right") - 1
        j = np.clip(j, lo, hi - 1)
        return j if k == 1 else self.counts.last(k)[j]

    def draw(self, context: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One next token per row of ``context`` ``[M, N-1]``, from uniforms ``u`` ∈ [0, 1) (temperature 1).

        Exact inverse-CDF sampling that never builds a ``[M, V]`` row: an interpolated model is a mixture
        (this order's discounted counts with weight 1 − γ, the lower order with weight γ), so one uniform
        picks a level and then a follower by binary search in the level's running sums.
        """
        c, N, s, V = self.counts, self.order, self.config.smoothing, self.vocab_size
        context = self._as_contexts(context)
        u = np.asarray(u, dtype=np.float64).copy()
        if s == "stupid-backoff":  # not a mixture: normalise its scores row by row
            dist = self.distribution(context)
            cum = np.cumsum(dist / dist.sum(axis=1, keepdims=True), axis=1)
            return np.minimum((cum <= u[:, None]).sum(axis=1), V - 1)
        out = np.full(len(context), -1, dtype=np.int64)
        if s in ("mle", "laplace", "add-k"):
            h = c.context_node(context)
            total = np.where(h >= 0, c.context_total(N)[np.maximum(h, 0)], 0.0)
            with np.errstate(invalid="ignore"):  # mle: 0 / 0 for an unseen context, masked here
                share = np.where(total > 0, total / (total + self._k * V), 0.0)  # mass of the observed followers
            pick = u < share
            cum = self._cumulative("counts", N, c.counts[N - 1])
            out[pick] = self._pick(N, h[pick], u[pick] / share[pick] * total[pick], cum)
            rest = ~pick  # the add-k pseudo-counts (or an unseen mle context): uniform over the vocabulary
            spread = (u[rest] - share[rest]) / (1.0 - share[rest])
            out[rest] = np.minimum((spread * V).astype(np.int64), V - 1)
            return out
        nodes = self._suffix_nodes(context)
        pending = np.ones(len(context), dtype=bool)
        for k in range(N, 1, -1):
            h = nodes[k - 1]
            gamma = np.where(h >= 0, self._gamma[k][np.maximum(h, 0)], np.nan)
            seen = pending & (gamma >= 0)  # False where gamma is NaN: no data for this context
            if not seen.any():
                continue
            keep = 1.0 - gamma  # mass of this order's discounted counts
            pick = seen & (u < keep)
            if pick.any():
                out[pick] = self._pick(k, h[pick], u[pick], self._cumulative("alpha", k, self._alpha[k]))
                pending &= ~pick
            down = seen & ~pick
            u[down] = np.minimum((u[down] - keep[down]) / gamma[down], np.nextafter(1.0, 0.0))
        if pending.any():
            out[pending] = self._pick(1, np.zeros(int(pending.sum()), dtype=np.int64), u[pending],
                                      self._cumulative("base", 1, self._base))
        return out

    def sample(self, num: int, max_tokens: int = 200, seed: int | None = None, prompt: list[int] | None = None
               ) -> list[np.ndarray]:
        """``num`` documents sampled at temperature 1, each up to and including its ``<eos>`` (or cut at
        ``max_tokens``) — the chain's own fast path: one uniform and a few binary searches per token.

        Same seed, same documents. For temperature, top-k or top-p use ``genlab.generate`` (dense rows).
        """
        rng = np.random.default_rng(seed)
        state = self.start(num)
        for token in prompt or []:
            state = self._advance(state, np.full(num, token, dtype=np.int64))
        out = np.full((num, max_tokens), -1, dtype=np.int64)
        alive = np.arange(num)
        for t in range(max_tokens):
            tokens = self.draw(state[alive], rng.random(len(alive)))
            out[alive, t] = tokens
            state[alive] = self._advance(state[alive], tokens)
            alive = alive[tokens != EOS_ID]
            if len(alive) == 0:
                break
        return [row[row >= 0] for row in out]

    # ------------------------------------------------------------ saving and loading
    def save(self, run: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write ``model.safetensors`` (the counts; no pickle) then ``config.json`` (settings + ``extra``)."""
        run = Path(run)
        save_numpy(run / MODEL_FILE, self.counts.to_arrays(),
                   metadata={"format": "genlab-markov-counts", "order": str(self.order),
                             "vocab_size": str(self.vocab_size)})
        model = {"family": "markov", **asdict(self.config), "vocab_size": self.vocab_size}
        write_json(run / "config.json", {"model": model, **(extra or {})})
        return run / MODEL_FILE

    def ngram_types(self) -> dict[str, int]:
        return {f"{k}-grams": self.counts.distinct(k) for k in range(1, self.order + 1)}


def load(run_dir: Path, config: dict, device: str = "cpu", which: str = "best") -> MarkovChain:
    """Rebuild a trained chain from its run directory (registry entry point; ``which`` is irrelevant here)."""
    section = config.get("model") or {}
    cfg = MarkovConfig.from_dict(section)
    try:
        vocab_size = int(section["vocab_size"])
    except (KeyError, TypeError, ValueError) as exc:
        raise GenlabError(f"{run_dir}/config.json lacks the model's vocab_size; retrain the model") from exc
    path = Path(run_dir) / MODEL_FILE
    arrays = load_numpy(path)
    counts = NgramCounts.from_arrays(arrays, cfg.order, vocab_size, source=str(path))
    return MarkovChain(counts, cfg)


# ---------------------------------------------------------------- `genlab train --model markov`
#: flags of other model families: given with --model markov they would be silently ignored, so refuse them
_NEURAL_FLAGS = ("preset", "n_layer", "n_head", "n_embd", "block_size", "dropout", "tie_weights", "batch_size",
                 "grad_accum", "lr", "min_lr", "warmup_steps", "lr_decay_steps", "weight_decay", "clip", "max_steps",
                 "epochs", "time_budget", "eval_interval", "eval_batches", "early_stop", "on_nan", "seed", "resume",
                 "log_interval", "rnn_impl", "dtype", "compile", "threads", "cell", "attention", "teacher_forcing",
                 "positions", "qk_norm", "activation", "optimizer", "embed_lr_scale", "scalar_lr_scale", "ema",
                 "budget_clock", "init_from", "augment", "synonyms", "augment_copies")


def train_cli(args: argparse.Namespace) -> int:
    """``genlab train RUN --model markov``: count the train split (or ``--corpus``), save, report."""
    from genlab import __version__
    from genlab.checkpoint import read_config, run_dir
    from genlab.tokens import PrepareConfig, TokenStore, prepare

    given = [f"--{name.replace('_', '-')}" for name in _NEURAL_FLAGS if getattr(args, name, None) not in (None, False)]
    if given:
        raise GenlabError(f"{', '.join(given)} do(es) not apply to --model markov, which is fitted by counting "
                          "(its options: --order, --smoothing, --k, --discount, --corpus)")
    config = MarkovConfig(order=args.order, smoothing=args.smoothing, k=args.k, discount=args.discount)
    config.validate()
    progress = not args.quiet
    if args.corpus:
        # one text file is one document under prepare's defaults, too few to split: a chain reads it by line
        unit = "line" if Path(args.corpus).is_file() else "file"
        prepare(PrepareConfig(corpus=args.corpus, out=str(args.run), unit=unit), progress=progress)
        print(f"prepared {args.run} from {args.corpus} (char tokens, one document per {unit})")
    run = run_dir(args.run)
    if (run / "config.json").is_file() and not getattr(args, "overwrite", False):
        family = (read_config(run).get("model") or {}).get("family")
        if family not in (None, "markov"):  # a Markov chain refits in seconds; a neural model took hours
            raise GenlabError(f"{run} already holds a trained {family} model; pass --overwrite to replace it "
                              "with a Markov chain, or train into another run directory")
    store = TokenStore(run)
    tokenizer = store.tokenizer
    data = store.split("train")
    stats = store.stats("train")
    started = time.perf_counter()
    model = MarkovChain.fit(data, store.vocab_size, config, progress=progress)
    seconds = time.perf_counter() - started
    extra = {
        "tokenizer": tokenizer.kind,
        "tokenizer_fingerprint": tokenizer.fingerprint(),
        "data": {"split": "train", "tokens": int(len(data)), "documents": stats.get("documents"),
                 "sha256": store.meta.get("split_sha256", {}).get("train")},
        "fit": {"seconds": round(seconds, 4), "ngram_types": model.ngram_types()},
        "versions": {"genlab": __version__, "numpy": np.__version__},
    }
    path = model.save(run, extra)
    detail = {"kn": f", discount {config.discount:g}", "add-k": f", k {config.k:g}"}.get(config.smoothing, "")
    print(f"fitted a {config.order}-gram Markov chain ({config.smoothing}{detail}) on {len(data):,} tokens "
          f"({stats.get('documents', 0):,} documents) in {seconds:.3f}s")
    print("n-gram types: " + " · ".join(f"{k} {n:,}" for k, n in model.ngram_types().items()))
    print(f"saved {path} ({path.stat().st_size / 1024:,.1f} KiB) and {run / 'config.json'}")
    return 0
