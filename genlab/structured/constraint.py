"""One sequence's constraint: which tokens may come next, and whether the output is complete.

The sampling loop asks :meth:`Constraint.allowed_mask` before each token, sets every other token's
score to -inf, samples, and calls :meth:`Constraint.advance` with the token it chose. The end tokens
(``<eos>``, or a chat run's end of turn) are allowed only while the text so far is a complete sentence of
the grammar, so an answer that ends by itself is always whole; one cut by ``max_tokens`` says "length".
When the grammar allows nothing more (the closing ``}`` of an object), :meth:`is_finished` tells the
loop to stop at once, without waiting for the model to choose an end token.

The masks come from llguidance (Microsoft's grammar engine behind Guidance, also used by llama.cpp and
vLLM): an Earley parser over a lexer that walks a token trie, so one mask costs tens of microseconds
for vocabularies of a few thousand tokens, far below a model step.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from genlab.errors import GenlabError
from genlab.structured.grammar import Grammar, json_object_grammar, json_schema_grammar
from genlab.structured.vocabulary import Vocabulary, vocabulary
from genlab.tokenizers import EOS_ID, Tokenizer


class ConstraintError(GenlabError):
    """The grammar cannot be followed: it is malformed, or this vocabulary cannot write what it needs next."""


class Constraint:
    """The grammar state of one generated sequence (make with :func:`grammar_constraint` and friends)."""

    def __init__(self, matcher, vocab: Vocabulary, grammar: Grammar, end_ids: Iterable[int]) -> None:
        self._matcher = matcher
        self.vocab = vocab
        self.grammar = grammar
        self.end_ids = tuple(sorted({int(i) for i in end_ids}))
        self._mask: torch.Tensor | None = None  # cached until the next advance

    def fork(self) -> Constraint:
        """An independent copy in the same state (for the other choices of a request)."""
        return Constraint(self._matcher.deep_copy(), self.vocab, self.grammar, self.end_ids)

    def allowed_mask(self, size: int | None = None) -> torch.Tensor:
        """A bool tensor over token ids (``size`` ≥ the vocabulary: a model may have spare rows, never allowed)."""
        size = self.vocab.size if size is None else size
        if self._mask is None:
            bits = np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8)
            allowed = np.unpackbits(bits, bitorder="little")[:self.vocab.size].astype(bool)
            self._check_matcher()
            allowed[EOS_ID] = False  # llguidance's own end token: which end tokens count is ours to say
            if self._matcher.is_accepting():
                allowed[list(self.end_ids)] = True
            if not allowed.any():
                raise ConstraintError(self._stuck_message())
            self._mask = torch.from_numpy(allowed)
        if size == self.vocab.size:
            return self._mask
        out = torch.zeros(size, dtype=torch.bool)
        shared = min(size, self.vocab.size)
        out[:shared] = self._mask[:shared]
        return out

    def advance(self, token_id: int) -> None:
        """Take the chosen token (an end token only ends the sequence; the caller stops there)."""
        self._mask = None
        if token_id in self.end_ids:
            return
        if not self._matcher.consume_token(int(token_id)):
            error = (self._matcher.get_error() or "").splitlines()
            raise ConstraintError(f"token {token_id} ({self.vocab.tokens[token_id]!r}) does not follow the output "
                                  f"grammar here{': ' + error[0] if error else ''}")

    def is_complete(self) -> bool:
        """Whether the text so far is a whole sentence of the grammar (it may still go on)."""
        return self._matcher.is_accepting()

    def is_finished(self) -> bool:
        """Whether the grammar allows no further text (the output is complete and must stop now)."""
        return self._matcher.is_stopped() and not self._matcher.is_error()

    def _check_matcher(self) -> None:
        if self._matcher.is_error():
            error = self._matcher.get_error()
            if error.startswith("NoExtensionBias"):  # no token continues the text
                raise ConstraintError(self._stuck_message())
            raise ConstraintError(f"the output grammar failed: {error.splitlines()[0] if error else 'unknown error'}")

    def _stuck_message(self) -> str:
        return ("this model's vocabulary cannot write what the output grammar needs next; use a tokenizer that "
                "has the characters JSON and the schema need ({ } [ ] \" : , space, digits, the key names), "
                "e.g. byte-level BPE")


def grammar_constraint(tokenizer: Tokenizer, grammar: Grammar, end_ids: Iterable[int] = (EOS_ID,)) -> Constraint:
    """A fresh constraint that keeps ``tokenizer``'s output inside ``grammar``.

    ``end_ids`` are the tokens that end the output (allowed only when it is complete): ``<eos>`` for a
    completion, the end-of-turn token for a chat run's answer.
    """
    from llguidance import LLMatcher

    vocab = vocabulary(tokenizer)
    compiled = grammar.compile(vocab)
    matcher = LLMatcher(vocab.ll, compiled, log_level=0)
    if matcher.is_error():
        raise ConstraintError(f"the grammar{' ' + grammar.name if grammar.name else ''} cannot be used: "
                              f"{matcher.get_error()}")
    constraint = Constraint(matcher, vocab, grammar, end_ids)
    constraint.allowed_mask()  # a vocabulary that cannot even start is refused here, before any generation
    return constraint


def json_schema_constraint(tokenizer: Tokenizer, schema: dict, end_ids: Iterable[int] = (EOS_ID,)) -> Constraint:
    """Output that is one JSON document valid under ``schema``."""
    return grammar_constraint(tokenizer, json_schema_grammar(schema), end_ids)


def json_object_constraint(tokenizer: Tokenizer, end_ids: Iterable[int] = (EOS_ID,)) -> Constraint:
    """Output that is one JSON object (any keys and values)."""
    return grammar_constraint(tokenizer, json_object_grammar(), end_ids)
