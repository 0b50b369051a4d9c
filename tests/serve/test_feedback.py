"""Feedback from people: ``POST /v1/feedback`` appends preference lines to the run's feedback.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest


def read_feedback(run: Path) -> list[dict]:
    path = run / "feedback.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def chat_server(chat_run: Path, start_server, tmp_path_factory: pytest.TempPathFactory):
    with start_server([chat_run], tmp_path_factory.mktemp("feedback-logs"), "--api-key", "k") as live:
        yield live


def test_ratings_and_picks_are_appended_as_preference_lines(chat_server, chat_run: Path):
    before = len(read_feedback(chat_run))
    auth = {"Authorization": "Bearer k"}
    messages = [{"role": "user", "content": "ping"}]
    r = httpx.post(chat_server.url + "/v1/feedback", headers=auth, json={
        "model": chat_run.name, "prompt": messages, "completion": "pong", "rating": "up"})
    assert r.status_code == 200 and r.json()["recorded"] is True
    r = httpx.post(chat_server.url + "/v1/feedback", headers=auth, json={
        "model": chat_run.name, "prompt": messages, "completion": "pang", "rating": "down"})
    assert r.status_code == 200
    r = httpx.post(chat_server.url + "/v1/feedback", headers=auth, json={
        "model": chat_run.name, "prompt": "the cat", "chosen": " sat", "rejected": " flew"})
    assert r.status_code == 200
    lines = read_feedback(chat_run)[before:]
    assert [line.get("label") for line in lines] == [True, False, None]
    assert lines[2]["chosen"] == " sat" and lines[2]["model"] == chat_run.name
    from genlab.tuning.prefs_data import read_preferences

    pairs = {(p.chosen, p.rejected) for p in read_preferences(chat_run / "feedback.jsonl")}
    assert ("pong", "pang") in pairs and (" sat", " flew") in pairs  # what genlab dpo will learn from


@pytest.mark.parametrize("body, status, pattern", [
    ({"model": 3, "prompt": "x", "completion": "y", "rating": "up"}, 400, "'model'"),
    ({"model": "nope", "prompt": "x", "completion": "y", "rating": "up"}, 404, "does not exist"),
    ({"MODEL": 1}, 400, "'model'"),
    ({"prompt": "x", "completion": "", "rating": "up"}, 400, "'completion' must be a non-empty string"),
    ({"prompt": "x", "completion": "y", "rating": "meh"}, 400, "'rating' must be 'up' or 'down'"),
    ({"prompt": "x", "chosen": "a", "rejected": "a"}, 400, "the same answer"),
    ({"prompt": [{"role": "robot", "content": "x"}], "chosen": "a", "rejected": "b"}, 400, "'prompt' must be"),
])
def test_bad_feedback_is_a_clear_4xx(chat_server, chat_run: Path, body, status, pattern):
    body = {"model": chat_run.name, **body} if "model" not in body and "MODEL" not in body else body
    before = len(read_feedback(chat_run))
    r = httpx.post(chat_server.url + "/v1/feedback", headers={"Authorization": "Bearer k"}, json=body)
    assert r.status_code == status and pattern in r.json()["error"]["message"]
    assert len(read_feedback(chat_run)) == before
    assert httpx.post(chat_server.url + "/v1/feedback", json=body).status_code == 401  # the API key guards it
