"""A model's decoding state for a batcher's slots: one row per running choice, each row on its own.

The batcher (``genlab.serve.batcher``) asks only two things of a model: ``reset(row)`` when a new
choice takes a free row, and ``feed(rows, chunks)`` — give each listed row its own tokens after what
it already holds, and return the next-token scores after each row's last token. Rows never wait for
each other: one may be half-way through its prompt while another is 300 tokens into its answer.

- A GPT keeps a :class:`genlab.models.gpt.SlotCache`: a dense KV cache with a position per row and a
  mask per row (no paging: a row's whole window fits), so rows one token long go through one batched
  step and prompt chunks through one padded call.
- Every other language model (RNN/LSTM/GRU hidden states, a Markov chain's n-gram context) already
  keeps its state per row along one axis; the rows fed are gathered along it, stepped together, and
  scattered back. Which axis is found by asking the model for the state of one and of two rows.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from genlab.models.protocol import prefill


class SlotStates(Protocol):
    rows: int

    def reset(self, row: int) -> None:
        """Forget what ``row`` held: the next ``feed`` starts a new document there."""
        ...

    def feed(self, rows: list[int], chunks: list[list[int]]) -> torch.Tensor:
        """Feed each row its chunk (≥ 1 token); next-token scores ``[len(rows), V]``."""
        ...


def slot_states(model: Any, rows: int) -> SlotStates:
    """The right kind of slot state for ``model``, with room for ``rows`` rows."""
    if hasattr(model, "start_slots") and hasattr(model, "feed_slots"):
        return CacheSlots(model, rows)
    return RowStates(model, rows)


class CacheSlots:
    """A GPT's per-row-position KV cache."""

    def __init__(self, model: Any, rows: int) -> None:
        self.model = model
        self.rows = rows
        self.cache = model.start_slots(rows)

    def reset(self, row: int) -> None:
        self.cache.pos[row] = 0

    def feed(self, rows: list[int], chunks: list[list[int]]) -> torch.Tensor:
        return self.model.feed_slots(self.cache, rows, chunks)


class RowStates:
    """Any protocol model whose state (a tensor, an array, or a tuple of them) has one axis per row."""

    def __init__(self, model: Any, rows: int) -> None:
        self.model = model
        self.rows = rows
        self.axes = _row_axes(model.start(1), model.start(2))
        self.state = model.start(rows)
        self.fresh = model.start(1)
        self.device = _device(self.state)

    def reset(self, row: int) -> None:
        self.state = _put(self.state, self.axes, [row], self.fresh)

    def feed(self, rows: list[int], chunks: list[list[int]]) -> torch.Tensor:
        out: list[torch.Tensor | None] = [None] * len(rows)
        single = [i for i, c in enumerate(chunks) if len(c) == 1]
        if single:  # one batched step for every row fed one token
            ids = [rows[i] for i in single]
            tokens = torch.tensor([chunks[i][0] for i in single], device=self.device)
            logits, state = self.model.step(tokens, _take(self.state, self.axes, ids))
            self.state = _put(self.state, self.axes, ids, state)
            for j, i in enumerate(single):
                out[i] = logits[j]
        for i, chunk in enumerate(chunks):  # prompts: each row on its own (a recurrence cannot be padded)
            if len(chunk) > 1:
                tokens = torch.tensor([chunk], device=self.device)
                logits, state = prefill(self.model, tokens, _take(self.state, self.axes, [rows[i]]))
                self.state = _put(self.state, self.axes, [rows[i]], state)
                out[i] = logits[0]
        return torch.stack([o.float() for o in out])


def _leaves(state: Any) -> list[Any]:
    return list(state) if isinstance(state, tuple) else [state]


def _rebuild(state: Any, leaves: list[Any]) -> Any:
    return tuple(leaves) if isinstance(state, tuple) else leaves[0]


def _row_axes(one: Any, two: Any) -> list[int]:
    """The axis that grows with the number of rows, for each part of the state."""
    axes = []
    for a, b in zip(_leaves(one), _leaves(two)):
        grown = [i for i, (x, y) in enumerate(zip(a.shape, b.shape)) if (x, y) == (1, 2)]
        if len(grown) != 1:
            raise TypeError(f"cannot find the row axis of a decoding state shaped {tuple(a.shape)}")
        axes.append(grown[0])
    return axes


def _device(state: Any) -> torch.device:
    first = _leaves(state)[0]
    return first.device if isinstance(first, torch.Tensor) else torch.device("cpu")


def _take(state: Any, axes: list[int], rows: list[int]) -> Any:
    taken = []
    for leaf, axis in zip(_leaves(state), axes):
        if isinstance(leaf, torch.Tensor):
            taken.append(leaf.index_select(axis, torch.tensor(rows, device=leaf.device)))
        else:
            taken.append(np.take(leaf, rows, axis=axis))
    return _rebuild(state, taken)


def _put(state: Any, axes: list[int], rows: list[int], values: Any) -> Any:
    """``state`` with ``rows`` (along each part's row axis) replaced by ``values``; in place where possible."""
    leaves = _leaves(state)
    for leaf, axis, value in zip(leaves, axes, _leaves(values)):
        where = (slice(None),) * axis + (rows,)
        leaf[where] = value if isinstance(leaf, np.ndarray) else value.to(leaf.dtype)
    return _rebuild(state, leaves)
