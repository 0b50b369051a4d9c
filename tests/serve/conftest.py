"""Real trained runs (made with the real CLI), live ``genlab serve`` processes, and an in-process app.

Runs are tiny so the whole folder stays fast on a shared 2-core machine: a 3-gram Markov chain over
characters, the same over byte-level BPE (whose tokens split Hangul syllables), and a GPT trained
for 5 steps when the GPT family is installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from genlab.cli import main as genlab_main

API_KEY = "genlab-test-key-2026"

LINES = [
    "the cat sat on the mat.",
    "a dog ran in the park.",
    "hello world, this is genlab.",
    "the model guesses when it is unsure.",
    "안녕하세요, 반갑습니다.",
    "생성형 인공지능을 배웁니다.",
    "오늘 날씨가 좋습니다.",
    "고양이가 매트 위에 앉았다.",
]


def _cli(*argv: str) -> None:
    code = genlab_main(list(argv))
    assert code == 0, f"genlab {' '.join(argv)} exited {code}"


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(LINES * 12) + "\n", encoding="utf-8")
    return path


def _prepare(root: Path, name: str, corpus: Path, *tokenizer: str) -> Path:
    run = root / name
    _cli("prepare", "--corpus", str(corpus), "--unit", "line", "--out", str(run), "--quiet", *tokenizer)
    return run


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="session")
def markov_run(runs_root: Path, corpus_file: Path) -> Path:
    run = _prepare(runs_root, "markov-char", corpus_file, "--tokenizer", "char")
    _cli("train", str(run), "--model", "markov", "--order", "3", "--quiet")
    return run


@pytest.fixture(scope="session")
def bpe_run(runs_root: Path, corpus_file: Path) -> Path:
    """Byte-level BPE with few merges: most Hangul syllables take 2–3 tokens."""
    run = _prepare(runs_root, "markov-bpe", corpus_file, "--tokenizer", "bpe", "--vocab-size", "280")
    _cli("train", str(run), "--model", "markov", "--order", "3", "--quiet")
    return run


def gpt_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("genlab.models.gpt", "genlab.training.loop"))


@pytest.fixture(scope="session")
def gpt_run(runs_root: Path, corpus_file: Path) -> Path | None:
    if not gpt_available():
        return None
    run = _prepare(runs_root, "gpt-tiny", corpus_file, "--tokenizer", "char")
    _cli("train", str(run), "--model", "gpt", "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
         "--block-size", "32", "--batch-size", "4", "--max-steps", "5", "--device", "cpu", "--quiet")
    return run


@pytest.fixture(scope="session")
def seq2seq_run(runs_root: Path) -> Path | None:
    """An encoder-decoder run (listed, but it cannot continue a prompt), when that family is installed."""
    if importlib.util.find_spec("genlab.models.seq2seq") is None:
        return None
    run = runs_root / "reverse-s2s"
    _cli("prepare", "--pairs", "builtin:reverse", "--num-examples", "200", "--out", str(run), "--quiet")
    _cli("train", str(run), "--model", "transformer", "--max-steps", "2", "--device", "cpu", "--quiet")
    return run


@pytest.fixture(scope="session")
def lm_runs(markov_run: Path, bpe_run: Path, gpt_run: Path | None) -> list[Path]:
    return [markov_run, bpe_run] + ([gpt_run] if gpt_run else [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    log: Path

    @property
    def api(self) -> str:
        return self.url + "/v1"

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def live_server(runs: list[Path], log_dir: Path, *flags: str) -> Iterator[LiveServer]:
    """``genlab serve RUN… --host 127.0.0.1 --port P`` in a subprocess, ready once ``/healthz`` says 200."""
    port = free_port()
    log = log_dir / f"serve-{port}.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("GENLAB_API_KEY", None)
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "genlab", "serve", *map(str, runs), "--host", "127.0.0.1",
                                    "--port", str(port), "--device", "cpu", "--log-level", "warning", *flags],
                                   stdout=out, stderr=subprocess.STDOUT, env=env)
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"genlab serve exited {process.returncode}:\n{server.log_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"genlab serve did not answer /healthz within 90 s:\n{server.log_text()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def start_server():
    """``with start_server(runs, log_dir, *flags) as live:`` for tests that need their own limits."""
    return live_server


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


@pytest.fixture(scope="session")
def server(lm_runs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The server most tests share: every test run, an API key, two workers (a stream resumes on either)."""
    with live_server(lm_runs, tmp_path_factory.mktemp("logs"), "--api-key", API_KEY, "--workers", "2") as live:
        yield live


@pytest.fixture(scope="session")
def markov_registry(markov_run: Path, bpe_run: Path):
    from genlab.serve import load_runs

    return load_runs([markov_run, bpe_run])


@pytest.fixture()
def make_client(markov_registry):
    """An in-process app (no sockets) for request-validation tests: ``make_client(limits, api_key)``."""
    from fastapi.testclient import TestClient

    from genlab.serve import ServeLimits, create_app

    clients = []

    def make(limits: ServeLimits | None = None, api_key: str | None = None) -> TestClient:
        app = create_app(markov_registry, limits or ServeLimits(), api_key)
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
