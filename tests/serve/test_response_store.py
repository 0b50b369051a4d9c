"""The bounded store behind ``previous_response_id``: least recently used out first."""

from __future__ import annotations

from genlab.serve.response_store import ResponseStore


def _put(store: ResponseStore, response_id: str) -> None:
    store.put({"id": response_id, "object": "response"}, [{"role": "user", "content": response_id}])


def test_the_least_recently_used_goes_first() -> None:
    store = ResponseStore(2)
    _put(store, "a")
    _put(store, "b")
    assert store.get("a") is not None  # a is now the most recently used
    _put(store, "c")
    assert store.get("b") is None and len(store) == 2
    assert store.get("a").conversation == ({"role": "user", "content": "a"},)
    assert store.get("c").response["id"] == "c"


def test_delete_and_a_zero_capacity() -> None:
    store = ResponseStore(3)
    _put(store, "a")
    assert store.delete("a") and not store.delete("a") and store.get("a") is None
    nothing = ResponseStore(0)
    _put(nothing, "a")
    assert len(nothing) == 0 and nothing.get("a") is None
