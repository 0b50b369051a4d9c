"""The one small protocol every language model speaks (see docs/architecture.md).

Markov chains, RNNs and GPTs differ inside but not outside: evaluation, generation and serving only
ever call these methods, so they never ask which model they hold.

Document boundaries: token stores put ``<eos>`` after every document, and every model treats a
position right after ``<eos>`` as "the start of a document" (the Markov chain pads with ``<bos>``
there, as NLTK does). To start a fresh document, step the model once with the ``<eos>`` id.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class LanguageModel(Protocol):
    vocab_size: int
    #: how many previous tokens the model can condition on (None: unbounded, e.g. an RNN)
    context_size: int | None

    def logits(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token scores at every position, teacher-forced: ``[B, T] -> [B, T, V]``.

        Scores are logits (any additive constant per row is fine); ``-inf`` marks impossible tokens.
        """
        ...

    def start(self, batch_size: int) -> Any:
        """The decoding state before any token (an n-gram context, hidden state, or empty KV cache)."""
        ...

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Feed one token per row: ``[B] -> ([B, V] scores for the next token, new state)``."""
        ...


def prefill(model: LanguageModel, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
    """Feed a ``[B, T]`` prompt; models may implement ``prefill`` to do it in one pass."""
    fast = getattr(model, "prefill", None)
    if fast is not None:
        return fast(tokens, state)
    logits = None
    for t in range(tokens.shape[1]):
        logits, state = model.step(tokens[:, t], state)
    assert logits is not None, "prefill needs at least one token"
    return logits, state


def target_logprobs(model: LanguageModel, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Log-probability of each target token ``[B, T]``; models may implement a faster ``target_logprobs``."""
    fast = getattr(model, "target_logprobs", None)
    if fast is not None:
        return fast(inputs, targets)
    logits = model.logits(inputs).float()
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
