"""How sure the model was, in the two shapes OpenAI uses for it.

Completions (legacy) report ``tokens``, ``token_logprobs``, ``top_logprobs`` (a dict per token) and
``text_offset``; chat reports a list of ``{token, logprob, bytes, top_logprobs}``. A byte-level BPE
token may be part of a character: its ``token`` text then shows U+FFFD and ``bytes`` carries the truth.
Impossible alternatives (log-probability −∞) are left out, since JSON has no infinity. Special tokens
add no text, so they are shown by name (``<eos>``: the model chose to end here), as OpenAI shows its
``<|endoftext|>``; their ``bytes`` stay empty, as their contribution to the text is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from genlab.generate import TokenInfo
from genlab.tokenizers import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, Tokenizer

#: what OpenAI reports for a probability too small to represent
FLOOR = -9999.0


def finite(logprob: float) -> float:
    return logprob if math.isfinite(logprob) else FLOOR


def shown(token_id: int, text: str) -> str:
    return SPECIAL_TOKENS[token_id] if token_id in (PAD_ID, BOS_ID, EOS_ID) else text


class TextOffsets:
    """Character offset of each generated token in prompt + completion (``text_offset``)."""

    def __init__(self, tokenizer: Tokenizer, start: int) -> None:
        self.tokenizer = tokenizer
        self.start = start
        self.ids: list[int] = []

    def next(self, token_id: int) -> int:
        # decode the whole prefix: jamo and byte-level tokens only make characters together
        done = self.tokenizer.decode_bytes(self.ids).decode("utf-8", errors="ignore")
        self.ids.append(token_id)
        return self.start + len(done)


def completion_logprobs(tokens: Sequence[TokenInfo], offsets: Sequence[int]) -> dict[str, Any]:
    tops = []
    for t in tokens:
        top: dict[str, float] = {}
        for i, text, lp in t.top:
            if math.isfinite(lp) and shown(i, text) not in top:
                top[shown(i, text)] = lp
        tops.append(top)
    return {
        "tokens": [shown(t.id, t.text) for t in tokens],
        "token_logprobs": [finite(t.logprob) for t in tokens],
        "top_logprobs": tops,
        "text_offset": list(offsets),
    }


def chat_logprobs(tokens: Sequence[TokenInfo], tokenizer: Tokenizer) -> dict[str, Any]:
    def entry(token_id: int, text: str, logprob: float) -> dict[str, Any]:
        return {"token": shown(token_id, text), "logprob": finite(logprob),
                "bytes": list(tokenizer.decode_bytes([token_id]))}

    content = []
    for t in tokens:
        item = entry(t.id, t.text, t.logprob)
        item["top_logprobs"] = [entry(i, text, lp) for i, text, lp in t.top if math.isfinite(lp)]
        content.append(item)
    return {"content": content, "refusal": None}
