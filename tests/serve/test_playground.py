"""The playground in a real browser (Debian's Chromium, headless) against a live ``genlab serve``.

Chromium comes from ``scripts/install-chromium.sh`` (apt-get where it is missing); the tests skip,
saying why, only where it cannot be installed. Screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (a dev dependency) is not installed")
    try:
        setup = subprocess.run(["sh", str(REPO / "scripts" / "install-chromium.sh")], capture_output=True, text=True,
                               timeout=900)
        reason = (setup.stderr.strip() or setup.stdout.strip()).splitlines()[-1:] if setup.returncode else []
    except subprocess.TimeoutExpired:
        reason = ["apt-get took longer than 15 minutes"]
    if reason or not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not available at {CHROMIUM} and could not be installed: {' '.join(reason)}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture()
def page(browser, server, api_key: str):
    page = browser.new_page(viewport={"width": 1200, "height": 800}, locale="ko-KR")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url + "/")
    # the server wants a key: the page says so, and lists the models once it has one
    page.wait_for_selector("body[data-state=error]")
    page.fill("#api-key", api_key)
    page.press("#api-key", "Enter")
    page.wait_for_selector("body[data-models=ready]")
    yield page
    assert errors == [], f"JavaScript errors on the page: {errors}"
    page.close()


def test_streamed_tokens_are_tinted_by_probability_with_alternatives_on_hover(page, server, api_key: str) -> None:
    prompt = "안녕하세요"
    page.select_option("#model", "markov-char")
    page.fill("#prompt", prompt)
    page.fill("#seed", "7")
    page.fill("#max-tokens", "40")
    page.click("#generate")
    page.wait_for_selector("body[data-state=done]", timeout=30_000)

    tokens = page.locator("#output .tok[data-prob]")
    assert tokens.count() >= 1
    probs = [float(p) for p in tokens.evaluate_all("spans => spans.map(s => s.dataset.prob)")]
    assert all(0 < p <= 1 for p in probs)
    tints = tokens.evaluate_all("spans => spans.map(s => getComputedStyle(s).backgroundColor)")
    assert all(t not in ("rgba(0, 0, 0, 0)", "transparent") for t in tints)
    if max(probs) - min(probs) > 0.3:  # a likely and an unlikely token are tinted differently
        assert tints[probs.index(max(probs))] != tints[probs.index(min(probs))]

    # what the page streamed is exactly what the API answers for the same settings
    shown = page.locator("#output .tok:not(.end)").evaluate_all("spans => spans.map(s => s.textContent).join('')")
    same = httpx.post(server.api + "/completions", headers={"Authorization": f"Bearer {api_key}"}, timeout=30, json={
        "model": "markov-char", "prompt": prompt, "max_tokens": 40, "temperature": 0.8, "top_p": 1.0, "seed": 7,
        "logprobs": 5}).json()
    assert shown == same["choices"][0]["text"]
    assert page.inner_text("#output").startswith(prompt)

    tokens.first.hover()
    page.wait_for_selector("#tip:not([hidden]) .tip-row")
    assert page.locator("#tip .tip-row").count() >= 1
    assert page.locator("#tip .tip-row.chosen").count() >= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)


def test_chat_mode_streams_a_reply(page, server, api_key: str) -> None:
    message = "생성형 인공지능?"
    page.select_option("#model", "markov-bpe")
    page.check('input[name="mode"][value="chat"]')
    page.fill("#seed", "3")
    page.fill("#message", message)
    page.press("#message", "Enter")
    page.wait_for_selector("body[data-state=done]", timeout=30_000)
    assert page.inner_text(".bubble.user .text") == message
    reply = page.locator(".bubble.assistant .text")
    assert reply.locator(".tok").count() >= 1
    assert reply.get_attribute("data-finish") in ("stop", "length")
    # byte-level BPE pieces were put together into the same characters the API returns in one piece
    shown = reply.locator(".tok:not(.end)").evaluate_all("spans => spans.map(s => s.textContent).join('')")
    same = httpx.post(server.api + "/chat/completions", headers={"Authorization": f"Bearer {api_key}"}, timeout=30,
                      json={"model": "markov-bpe", "messages": [{"role": "user", "content": message}],
                            "max_tokens": 120, "temperature": 0.8, "top_p": 1.0, "seed": 3}).json()
    assert shown == same["choices"][0]["message"]["content"]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground-chat.png"), full_page=True)


def test_feedback_controls_in_chat_mode_write_the_runs_feedback_file(browser, chat_run, start_server, tmp_path):
    """👍 on an answer, then "compare two answers" and a pick: both land in RUN/feedback.jsonl."""
    import json

    path = chat_run / "feedback.jsonl"
    before = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    with start_server([chat_run], tmp_path) as live:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(live.url + "/")
        page.wait_for_selector("body[data-models=ready]")
        page.check('input[name="mode"][value="chat"]')
        page.eval_on_selector("#temperature", "e => { e.value = '0'; e.dispatchEvent(new Event('input')); }")
        page.fill("#message", "ping")
        page.click("#generate")
        page.wait_for_selector(".bubble.assistant .rating button.rate-up")
        answer = page.eval_on_selector(".bubble.assistant .text", "e => [...e.querySelectorAll('.tok:not(.end)')]"
                                       ".map(t => t.textContent).join('')")
        assert answer == "pong" and page.locator(".bubble.assistant .tok.end").count() == 1  # the end-of-turn chip
        page.click(".bubble.assistant .rating button.rate-up")
        page.wait_for_selector(".rating[data-saved=up]")
        page.eval_on_selector("#temperature", "e => { e.value = '2'; e.dispatchEvent(new Event('input')); }")
        for seed in range(3, 20):  # the tiny model is sure of itself: sample until the two answers differ
            page.fill("#message", "the cat?")
            page.fill("#seed", str(seed))
            page.click("#compare")
            page.wait_for_selector("#pick:not([hidden])")
            if page.inner_text("#pick-a") != page.inner_text("#pick-b"):
                break
            page.click("#pick-a-button")
            page.wait_for_selector("#pick[hidden]", state="attached")
        picked = page.inner_text("#pick-b")
        assets = page.locator(".bubble.assistant").count()
        page.click("#pick-b-button")
        page.wait_for_selector("#pick[hidden]", state="attached")
        # a selector wait, not wait_for_function: the page's Content-Security-Policy forbids evaluating strings
        page.locator(".bubble.assistant").nth(assets).wait_for()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "playground-feedback.png"), full_page=True)
        page.close()
        assert errors == []
    new = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[len(before):]]
    assert new[0]["completion"] == "pong" and new[0]["label"] is True
    assert new[0]["prompt"] == [{"role": "user", "content": "ping"}]
    assert len(new) == 2 and new[1]["chosen"] == picked and new[1]["rejected"] != picked
    assert new[1]["prompt"][-1] == {"role": "user", "content": "the cat?"}


def test_the_json_schema_box_constrains_the_output(page, server, api_key: str) -> None:
    schema = {"type": "object", "properties": {"word": {"type": "string", "maxLength": 5}, "n": {"type": "integer"}},
              "required": ["word", "n"], "additionalProperties": False}
    page.select_option("#model", "markov-bpe")
    assert page.locator("#json-schema").is_hidden()
    page.select_option("#response-format", "json_schema")
    page.fill("#json-schema", "{not json")
    page.fill("#prompt", "x")
    page.click("#generate")
    page.wait_for_selector("body[data-state=error]")
    assert "valid JSON" in page.inner_text("#status")

    page.fill("#json-schema", json.dumps(schema))
    page.fill("#seed", "11")
    page.fill("#max-tokens", "60")
    page.click("#generate")
    page.wait_for_selector("body[data-state=done]", timeout=30_000)
    shown = page.locator("#output .tok:not(.end)").evaluate_all("spans => spans.map(s => s.textContent).join('')")
    same = httpx.post(server.api + "/completions", headers={"Authorization": f"Bearer {api_key}"}, timeout=30, json={
        "model": "markov-bpe", "prompt": "x", "max_tokens": 60, "temperature": 0.8, "top_p": 1.0, "seed": 11,
        "logprobs": 5, "response_format": {"type": "json_schema",
                                           "json_schema": {"name": "playground", "schema": schema, "strict": True}},
    }).json()["choices"][0]
    assert shown == same["text"] and shown.startswith('{"word": "')
    if same["finish_reason"] == "stop":
        jsonschema.validate(json.loads(shown), schema)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground-json-schema.png"), full_page=True)
