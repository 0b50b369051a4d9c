"""The responses a server keeps, so ``previous_response_id`` can continue a conversation and
``GET /v1/responses/{id}`` can fetch one.

Kept in memory, the least recently used dropped once there are ``capacity`` of them: a server that
runs for weeks must not grow without bound, and a restart forgets them all (as documented). Each entry
keeps its whole conversation as chat messages, so continuing never walks a chain whose older links may
already be gone; the messages share their strings with the entries they came from, so a long chain
costs pointers, not copies of its text.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StoredResponse:
    #: the Response object as the client received it
    response: dict[str, Any]
    #: the conversation so far as chat messages (earlier turns, this input, this output), without instructions:
    #: OpenAI does not carry a response's instructions over to the next one
    conversation: tuple[dict[str, Any], ...]
    #: this request's own input, as ``GET /v1/responses/{id}/input_items`` lists it (oldest first)
    input_items: tuple[dict[str, Any], ...] = ()

    @property
    def id(self) -> str:
        return self.response["id"]


class ResponseStore:
    """A bounded LRU map from response id to :class:`StoredResponse` (used on the event loop only)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: collections.OrderedDict[str, StoredResponse] = collections.OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, response: dict[str, Any], conversation: Sequence[dict[str, Any]],
            input_items: Sequence[dict[str, Any]] = ()) -> None:
        if self.capacity < 1:
            return
        stored = StoredResponse(response, tuple(conversation), tuple(input_items))
        self._items[stored.id] = stored
        self._items.move_to_end(stored.id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def get(self, response_id: str) -> StoredResponse | None:
        stored = self._items.get(response_id)
        if stored is not None:
            self._items.move_to_end(response_id)
        return stored

    def delete(self, response_id: str) -> bool:
        return self._items.pop(response_id, None) is not None
