"""Fixtures shared across test folders: a tiny chat run, fine-tuned through the real command line, and
a headless Chromium for the pages genlab writes or serves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from genlab.cli import main as genlab_main

CORPUS = ["the cat sat on the mat.", "hello world, this is genlab.", "안녕하세요, 반갑습니다.",
          "생성형 인공지능을 배웁니다."]
#: what the tiny chat run learns; it answers these exactly after a few seconds of fine-tuning
CHAT = [
    {"messages": [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}], "skill": "echo"},
    {"messages": [{"role": "user", "content": "안녕"}, {"role": "assistant", "content": "반가워요"}], "skill": "greet"},
    {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "123 더하기 456은?"},
                  {"role": "assistant", "content": "579"}], "skill": "math"},
    {"prompt": "color of sky?", "completion": "blue"},
]


REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium (installed by ``scripts/install-chromium.sh`` where missing), headless, via Playwright."""
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


def genlab_subprocess(*args: str) -> subprocess.CompletedProcess:
    """``python -m genlab ARGS`` in a child process, unbuffered and not verbose, its output captured."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("GENLAB_VERBOSE", None)
    return subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def cli(*argv: str) -> None:
    code = genlab_main(list(argv))
    assert code == 0, f"genlab {' '.join(argv)} exited {code}"


def json_markov_run(root: Path, records: list[dict], name: str = "pets", copies: int = 20) -> Path:
    """A char Markov chain (order 4) on ``records`` as JSON lines: its vocabulary spells JSON, and it likes
    closing objects (the shared runs' vocabularies lack braces)."""
    (root / "records.txt").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records * copies) + "\n",
                                      encoding="utf-8")
    run = root / name  # the served model's name
    cli("prepare", "--corpus", str(root / "records.txt"), "--unit", "line", "--out", str(run), "--quiet")
    cli("train", str(run), "--model", "markov", "--order", "4", "--quiet")
    return run


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def chat_base_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer char GPT trained for 5 steps on a little English and Korean text: a base to fine-tune."""
    root = tmp_path_factory.mktemp("chat-base")
    (root / "corpus.txt").write_text("\n".join(CORPUS * 10) + "\n", encoding="utf-8")
    run = root / "base"
    cli("prepare", "--corpus", str(root / "corpus.txt"), "--unit", "line", "--out", str(run), "--quiet")
    cli("train", str(run), "--model", "gpt", "--n-layer", "2", "--n-head", "2", "--n-embd", "48", "--block-size", "32",
        "--batch-size", "4", "--max-steps", "5", "--device", "cpu", "--threads", "1", "--quiet")
    return run


@pytest.fixture(scope="session")
def chat_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("chat-data") / "chat.jsonl", CHAT * 5)


@pytest.fixture(scope="session")
def chat_run(chat_base_run: Path, chat_data: Path) -> Path:
    """The base fine-tuned on CHAT until it answers every question exactly."""
    run = chat_base_run.parent / "chat"
    cli("finetune", str(chat_base_run), "--data", str(chat_data), "--out", str(run), "--max-steps", "150",
        "--batch-size", "8", "--lr", "1e-2", "--eval-interval", "75", "--val-fraction", "0.1", "--threads", "1",
        "--seed", "4", "--quiet")
    return run


#: a tool the tiny tool run learns to call
CALC = {"type": "function", "function": {"name": "calc", "description": "Multiply.", "parameters": {
    "type": "object", "properties": {"e": {"type": "string"}}, "required": ["e"]}}}


def _tool_line(question: str, expression: str, result: str) -> dict:
    call = {"id": "call_1", "type": "function",
            "function": {"name": "calc", "arguments": json.dumps({"e": expression})}}
    return {"tools": [CALC], "skill": "calc", "messages": [
        {"role": "user", "content": question}, {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": result}, {"role": "assistant", "content": result}]}


#: what the tiny tool run learns: call ``calc`` for a product, answer with its result, answer "ping" itself
TOOL_CHAT = [_tool_line("7*6?", "7*6", "42"), _tool_line("12*3?", "12*3", "36"), _tool_line("9*9?", "9*9", "81"),
             {"tools": [CALC], "messages": [{"role": "user", "content": "ping"},
                                            {"role": "assistant", "content": "pong"}]},
             {"messages": [{"role": "user", "content": "ping"}, {"role": "assistant", "content": "pong"}]}]


@pytest.fixture(scope="session")
def tool_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer char GPT (context 96: a tool conversation is ~80 characters) fine-tuned on TOOL_CHAT."""
    root = tmp_path_factory.mktemp("tool-run")
    (root / "corpus.txt").write_text("\n".join(CORPUS * 40) + "\n", encoding="utf-8")
    base, run = root / "base", root / "tools"
    cli("prepare", "--corpus", str(root / "corpus.txt"), "--unit", "line", "--out", str(base), "--quiet")
    cli("train", str(base), "--model", "gpt", "--n-layer", "1", "--n-head", "2", "--n-embd", "48", "--block-size", "96",
        "--batch-size", "4", "--max-steps", "5", "--device", "cpu", "--threads", "1", "--quiet")
    data = write_jsonl(root / "tools.jsonl", TOOL_CHAT * 5)
    cli("finetune", str(base), "--data", str(data), "--out", str(run), "--max-steps", "150", "--batch-size", "8",
        "--lr", "1e-2", "--eval-interval", "75", "--val-fraction", "0.1", "--threads", "1", "--seed", "3", "--quiet")
    return run
