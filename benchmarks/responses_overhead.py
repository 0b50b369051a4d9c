"""Benchmark: what ``/v1/responses`` costs over ``/v1/chat/completions`` for the same generation.

Claim: the Responses API is a translation onto the chat path (request → chat request, chat answer →
Response object / chat chunks → Responses events), so a request through it takes about as long as
the same chat completion: within 10 % of its time, streamed or not. (Measured on 2 shared AMD EPYC
cores at load average 7.4, 100 rounds of 64 tokens: +1.0 ms on 64 ms per request, +4.3 ms on 76 ms
streamed; noisy there.)

Setup: a 3-gram character Markov chain (made here unless ``--run`` names a run) served in-process
(FastAPI's test client: no sockets, so the figures are the server's work, not loopback's). Each round
sends the same greedy request with ``ignore_eos`` (every request does the same ``--tokens`` of work)
through both endpoints, alternating, streamed and not; per endpoint the median wall time per request
is reported, and the difference per request and per token.

Prints progress and figures; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINES = ["the cat sat on the mat.", "a dog ran in the park.", "hello world, this is genlab.",
         "안녕하세요, 반갑습니다.", "오늘 날씨가 좋습니다."]


def log(message: str) -> None:
    print(message, flush=True)


def build_run(work: Path) -> Path:
    corpus, run = work / "corpus.txt", work / "markov-char"
    corpus.write_text("\n".join(LINES * 40) + "\n", encoding="utf-8")
    for argv in (["prepare", "--corpus", str(corpus), "--unit", "line", "--tokenizer", "char", "--out", str(run),
                  "--quiet"], ["train", str(run), "--model", "markov", "--order", "3", "--quiet"]):
        subprocess.run([sys.executable, "-m", "genlab", *argv], check=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a trained language-model run (default: a small Markov chain)")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from genlab.serve import ServeLimits, create_app, load_runs

    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or build_run(Path(tmp))
        registry = load_runs([run])
        model = registry.ids()[0]
        client = TestClient(create_app(registry, ServeLimits(max_stored_responses=args.rounds * 2)))
        chat = {"model": model, "messages": [{"role": "user", "content": "the cat"}], "max_tokens": args.tokens,
                "temperature": 0, "ignore_eos": True}
        responses = {"model": model, "input": "the cat", "max_output_tokens": args.tokens, "temperature": 0,
                     "ignore_eos": True}
        requests = {"chat": ("/v1/chat/completions", chat), "responses": ("/v1/responses", responses)}
        times: dict[str, list[float]] = {f"{name}{tail}": [] for name in requests for tail in ("", "_stream")}
        for path, body in requests.values():  # warm-up
            for stream in (False, True):
                reply = client.post(path, json={**body, "stream": stream})
                assert reply.status_code == 200, reply.text
        same_text = client.post("/v1/chat/completions", json=chat).json()["choices"][0]["message"]["content"]
        same_usage = client.post("/v1/responses", json=responses).json()
        assert same_usage["output"][0]["content"][0]["text"] == same_text, "the two endpoints did different work"
        assert same_usage["usage"]["output_tokens"] == args.tokens
        log(f"{args.rounds} rounds of {args.tokens} greedy tokens per request, model {model}")
        for r in range(args.rounds):
            for name, (path, body) in requests.items():
                for stream, tail in ((False, ""), (True, "_stream")):
                    start = time.perf_counter()
                    reply = client.post(path, json={**body, "stream": stream})
                    reply.read()
                    times[f"{name}{tail}"].append(time.perf_counter() - start)
                    assert reply.status_code == 200
            if (r + 1) % 10 == 0:
                log(f"  round {r + 1}/{args.rounds}")
        medians = {k: statistics.median(v) * 1000 for k, v in times.items()}
        for k, v in medians.items():
            log(f"{k:18s} median {v:7.2f} ms per request")
        extra = medians["responses"] - medians["chat"]
        extra_stream = medians["responses_stream"] - medians["chat_stream"]
        log(f"responses − chat: {extra:+.2f} ms per request; streamed {extra_stream:+.2f} ms "
            f"({extra_stream / args.tokens * 1000:+.1f} µs per token)")
    result = {"benchmark": "responses_overhead", "tokens": args.tokens, "rounds": args.rounds,
              "median_ms": {k: round(v, 3) for k, v in medians.items()},
              "extra_ms_per_request": round(extra, 3), "extra_ms_per_streamed_request": round(extra_stream, 3),
              "load_average": list(os.getloadavg())}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
