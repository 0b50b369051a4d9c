"""N-gram counts of a token stream: the statistics a Markov chain is made of (course step 3, "마르코프 체인").

**Padding.** A token store holds documents, each followed by ``<eos>``. Before counting, every document gets
N-1 ``<bos>`` on its left, exactly as NLTK's ``pad_both_ends`` does, and keeps its single ``<eos>`` on the right
(NLTK would add N-1 ``</s>``; one is all the store has, and nothing is ever predicted after it). Every n-gram
of every order 1…N that fits inside one padded document is counted — NLTK's ``everygrams`` — so n-grams never
cross a document boundary.

**Counting without a dict walk.** N-grams are identified hierarchically: a k-gram's int64 key is
``(index of its (k-1)-gram prefix in the sorted (k-1)-gram table) * V + last token``, and a 1-gram is its
token id. One ``np.unique`` per order then sorts and counts all k-grams at once; the inverse it returns gives
the prefix index the next order needs. Keys stay below (distinct (k-1)-grams) × V, so they fit in int64 for
any N and any vocabulary — packing N raw ids into one integer would overflow at, e.g., N = 5 with a
12-bit vocabulary.

**Lookups** are binary searches (``np.searchsorted``) in those sorted key tables, vectorised over many
queries at once; all followers of a context are one contiguous slice of the next order's table.
Only the keys and counts are stored; everything else (prefix and suffix links) is derived on load.
"""

from __future__ import annotations

import numpy as np

from genlab.errors import GenlabError
from genlab.tokenizers import BOS_ID, EOS_ID

MAX_ORDER = 8
_INT64_MAX = np.iinfo(np.int64).max


def pad_documents(ids: np.ndarray, order: int) -> np.ndarray:
    """``doc₁ <eos> doc₂ <eos> …`` → ``<bos>×(N-1) doc₁ <eos> <bos>×(N-1) doc₂ <eos> …`` (int64).

    A stream that does not end in ``<eos>`` (a truncated last document) is closed with one.
    """
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == 0 or ids[-1] != EOS_ID:
        ids = np.append(ids, EOS_ID)
    if order == 1:
        return ids
    is_eos = ids == EOS_ID
    docs_before = np.cumsum(is_eos) - is_eos  # documents finished before each position
    out = np.full(len(ids) + int(is_eos.sum()) * (order - 1), BOS_ID, dtype=np.int64)
    out[np.arange(len(ids)) + (order - 1) * (docs_before + 1)] = ids
    return out


class NgramCounts:
    """Counts of every k-gram, k = 1…order, of a padded token stream, in sorted integer tables.

    ``keys[k-1]``/``counts[k-1]`` hold order k (sorted unique keys, occurrences). Order 1 is dense:
    ``counts[0][token]`` for every id of the vocabulary, and a 1-gram's node is its token id.
    A *node* of order k is an index into ``keys[k-1]`` (−1: never seen). The empty context is node 0 of
    order 0.
    """

    def __init__(self, order: int, vocab_size: int, keys: list[np.ndarray], counts: list[np.ndarray]) -> None:
        self.order = order
        self.vocab_size = vocab_size
        self.keys = keys
        self.counts = counts
        self._cache: dict[tuple[str, int], np.ndarray] = {}

    # ---------------------------------------------------------------- counting
    @classmethod
    def from_ids(cls, ids: np.ndarray, order: int, vocab_size: int, progress: bool = False) -> NgramCounts:
        """Count all 1…``order``-grams of a token store split (documents each followed by ``<eos>``)."""
        from tqdm.auto import tqdm

        if not 1 <= order <= MAX_ORDER:
            raise GenlabError(f"--order must be between 1 and {MAX_ORDER}, got {order}")
        ids = np.asarray(ids)
        if len(ids) == 0:
            raise GenlabError("no training tokens: the train split is empty; prepare a larger corpus")
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= vocab_size:
            raise GenlabError(f"token id {hi if hi >= vocab_size else lo} is outside the vocabulary (size "
                              f"{vocab_size}): the token store does not belong to this tokenizer; re-run prepare")
        padded = pad_documents(ids, order)
        n = len(padded)
        V = vocab_size
        keys = [np.arange(V, dtype=np.int64)]
        counts = [np.bincount(padded, minlength=V).astype(np.int64)]
        node = padded  # the node of the (k-1)-gram starting at each position (order 1: the token id)
        valid = np.ones(n, dtype=bool)  # that (k-1)-gram lies inside one padded document
        bar = tqdm(range(2, order + 1), desc="count n-grams", unit="order", disable=not progress,
                   dynamic_ncols=True)
        for k in bar:
            m = n - k + 1
            if m <= 0 or len(keys[-1]) == 0:
                keys.append(np.zeros(0, dtype=np.int64))
                counts.append(np.zeros(0, dtype=np.int64))
                node, valid = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
                continue
            if len(keys[-1]) * V >= _INT64_MAX:
                raise GenlabError(f"too many distinct {k - 1}-grams ({len(keys[-1]):,}) for a {V:,}-token "
                                  "vocabulary to index in 64 bits; use a lower --order or a smaller vocabulary")
            # a k-gram is inside one document when no <eos> occurs before its last token
            valid = valid[:m] & (padded[k - 2:k - 2 + m] != EOS_ID)
            starts = np.flatnonzero(valid)
            key = node[starts] * V + padded[starts + k - 1]
            uniq, inverse, cnt = np.unique(key, return_inverse=True, return_counts=True)
            keys.append(uniq)
            counts.append(cnt.astype(np.int64))
            node = np.full(m, -1, dtype=np.int64)
            node[starts] = inverse.reshape(-1)
            bar.set_postfix(ngrams=f"{len(uniq):,}", tok_s=f"{n / max(bar.format_dict['elapsed'], 1e-9):.3g}")
        bar.close()
        return cls(order, V, keys, counts)

    # ---------------------------------------------------------------- storage
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"counts.1": self.counts[0]}
        for k in range(2, self.order + 1):
            arrays[f"keys.{k}"] = self.keys[k - 1]
            arrays[f"counts.{k}"] = self.counts[k - 1]
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], order: int, vocab_size: int, source: str = "model file"
                    ) -> NgramCounts:
        """Rebuild from ``to_arrays``; anything inconsistent is reported as a damaged file, never trusted."""

        def bad(why: str) -> GenlabError:
            return GenlabError(f"{source} is damaged ({why}); retrain the model (`genlab train RUN --model markov`)")

        V = vocab_size
        keys = [np.arange(V, dtype=np.int64)]
        counts: list[np.ndarray] = []
        c1 = arrays.get("counts.1")
        if c1 is None or c1.shape != (V,) or c1.dtype != np.int64 or (c1 < 0).any():
            raise bad("unigram counts missing or of the wrong size")
        counts.append(c1)
        for k in range(2, order + 1):
            key, cnt = arrays.get(f"keys.{k}"), arrays.get(f"counts.{k}")
            if key is None or cnt is None:
                raise bad(f"{k}-gram table missing")
            if key.dtype != np.int64 or cnt.dtype != np.int64 or key.ndim != 1 or key.shape != cnt.shape:
                raise bad(f"{k}-gram table has the wrong shape or type")
            if len(key) and (key[0] < 0 or key[-1] >= len(keys[-1]) * V or (np.diff(key) <= 0).any()
                             or (cnt <= 0).any()):
                raise bad(f"{k}-gram table is out of order or out of range")
            keys.append(key)
            counts.append(cnt)
        extra = set(arrays) - {"counts.1"} - {f"{p}.{k}" for p in ("keys", "counts") for k in range(2, order + 1)}
        if extra:
            raise bad(f"unexpected arrays {sorted(extra)}")
        made = cls(order, V, keys, counts)
        for k in range(3, order + 1):  # every suffix of a counted k-gram must itself be counted
            if (made.suffix(k) < 0).any():
                raise bad(f"{k}-gram table refers to {k - 1}-grams that were never counted")
        return made

    # ---------------------------------------------------------------- structure
    def size(self, k: int) -> int:
        """Number of nodes of order k (order 0: the one empty context; order 1: the vocabulary)."""
        return 1 if k == 0 else len(self.keys[k - 1])

    def distinct(self, k: int) -> int:
        """Distinct k-grams seen in training."""
        return int((self.counts[0] > 0).sum()) if k == 1 else len(self.keys[k - 1])

    def _cached(self, name: str, k: int, make) -> np.ndarray:
        key = (name, k)
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def parent(self, k: int) -> np.ndarray:
        """The (k-1)-gram prefix node of each k-gram (order 1: the empty context, node 0)."""
        if k == 1:
            return np.zeros(self.vocab_size, dtype=np.int64)
        return self._cached("parent", k, lambda: self.keys[k - 1] // self.vocab_size)

    def last(self, k: int) -> np.ndarray:
        """The last token of each k-gram."""
        return self._cached("last", k, lambda: self.keys[k - 1] % self.vocab_size)

    def suffix(self, k: int) -> np.ndarray:
        """The (k-1)-gram suffix node of each k-gram (``a b c`` → ``b c``), for continuation counts."""
        if k == 2:
            return self.last(2)
        return self._cached("suffix", k, lambda: self.lookup(k - 1, self.suffix(k - 1)[self.parent(k)], self.last(k)))

    def context_total(self, k: int) -> np.ndarray:
        """For each (k-1)-gram context: how many k-grams start with it (NLTK's ``counts[context].N()``)."""
        return self._cached("total", k, lambda: np.bincount(self.parent(k), weights=self.counts[k - 1],
                                                            minlength=self.size(k - 1)))

    def context_types(self, k: int) -> np.ndarray:
        """For each (k-1)-gram context: how many distinct tokens followed it."""
        return self._cached("types", k, lambda: np.bincount(self.parent(k)[self.counts[k - 1] > 0],
                                                            minlength=self.size(k - 1)))

    # ---------------------------------------------------------------- lookups
    def lookup(self, k: int, parent: np.ndarray, token: np.ndarray) -> np.ndarray:
        """Node of the k-gram (parent (k-1)-gram, token) for many queries at once; −1 where never seen."""
        parent = np.asarray(parent, dtype=np.int64)
        token = np.asarray(token, dtype=np.int64)
        if k == 1:
            return np.where(parent == 0, token, -1)
        table = self.keys[k - 1]
        if len(table) == 0:
            return np.full(np.broadcast(parent, token).shape, -1, dtype=np.int64)
        query = parent * self.vocab_size + token
        pos = np.minimum(np.searchsorted(table, query), len(table) - 1)
        return np.where((parent >= 0) & (table[pos] == query), pos, -1)

    def context_node(self, context: np.ndarray) -> np.ndarray:
        """Node of each row of ``context`` ``[M, L]`` as an L-gram (L = 0: the empty context); −1 if unseen."""
        m, length = context.shape
        if length == 0:
            return np.zeros(m, dtype=np.int64)
        node = np.asarray(context[:, 0], dtype=np.int64)
        for j in range(1, length):
            node = self.lookup(j + 1, node, context[:, j])
        return node

    def follower_slices(self, k: int, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For context nodes of order k-1: (row of each follower, index of the k-gram in ``keys[k-1]``).

        Followers of a context are one contiguous run of the sorted k-gram table, so this is two binary
        searches per row plus a vectorised ``repeat`` — no Python loop over rows.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        if k == 1:  # the empty context is followed by every token of the vocabulary
            rows = np.flatnonzero(nodes == 0)
            return np.repeat(rows, self.vocab_size), np.tile(np.arange(self.vocab_size), len(rows))
        table = self.keys[k - 1]
        seen = nodes >= 0
        base = np.where(seen, nodes, 0) * self.vocab_size
        lo = np.searchsorted(table, base)
        hi = np.where(seen, np.searchsorted(table, base + self.vocab_size), lo)
        lengths = hi - lo
        rows = np.repeat(np.arange(len(nodes)), lengths)
        starts = np.cumsum(lengths) - lengths
        index = np.repeat(lo - starts, lengths) + np.arange(int(lengths.sum()))
        return rows, index
