"""``genlab serve`` on the command line: problems it can detect before serving are one line, exit 2."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from genlab.cli import main


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("genlab: error:") and "\n" not in err and "Traceback" not in err
    return err


def test_missing_run_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(tmp_path / "nope"), "--port", "0"]) == 2
    assert "nope" in _error_line(capsys)


def test_directory_without_a_trained_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(tmp_path), "--port", "0"]) == 2
    assert "config.json" in _error_line(capsys)


def test_port_in_use(markov_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", str(markov_run), "--port", str(port)]) == 2
    assert "--port" in _error_line(capsys)


def test_two_runs_with_the_same_name(markov_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twin = tmp_path / markov_run.name
    twin.symlink_to(markov_run, target_is_directory=True)
    assert main(["serve", str(markov_run), str(twin), "--port", "0"]) == 2
    assert "both named" in _error_line(capsys)


@pytest.mark.parametrize("flags", [["--max-body-bytes", "10"], ["--max-concurrency", "0"], ["--port", "-1"],
                                   ["--quantize", "int4"], ["--max-batch", "0"], ["--max-batch", "many"],
                                   ["--max-batch", "100000"]])
def test_bad_flags(markov_run: Path, flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["serve", str(markov_run), *flags])
    except SystemExit as exc:  # argparse's own one-line error
        code = exc.code
    assert code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_help_lists_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--host", "--port", "--api-key", "--max-concurrency", "--max-tokens-cap", "--max-body-bytes",
                 "--device", "--quantize", "--max-batch", "--max-stored-responses"):
        assert flag in text
    assert "127.0.0.1" in text


def test_ctrl_c_ends_running_streams_with_an_error_event_and_exits(markov_run: Path, tmp_path: Path,
                                                                   start_server) -> None:
    import json
    import signal
    import subprocess

    import httpx

    endless = {"model": markov_run.name, "prompt": "the", "max_tokens": 1_000_000, "ignore_eos": True,
               "stream": True}
    with start_server([markov_run], tmp_path, "--max-tokens-cap", "1000000") as srv, \
            httpx.stream("POST", srv.api + "/completions", json=endless, timeout=60) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("data: {")
        srv.process.send_signal(signal.SIGINT)
        events = [line for line in lines if line.startswith("data: ")]
        assert json.loads(events[-1].removeprefix("data: "))["error"]["code"] == "shutting_down"
        try:
            code = srv.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail("genlab serve did not exit after Ctrl-C")
        assert code == 130, srv.log_text()  # the CLI's exit status for Ctrl-C
        assert "Traceback" not in srv.log_text()


def test_cpu_serving_defaults_to_a_worker_per_core_with_one_thread_each(monkeypatch) -> None:
    from genlab.cli.serve_cmd import serving_threads

    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert serving_threads("cpu", None, None) == (2, 1)
    assert serving_threads("cpu", 1, None) == (1, 2)  # one worker: every core
    assert serving_threads("cpu", 3, 2) == (3, 2)  # explicit values win
    assert serving_threads("cuda", None, None) == (1, None)
    monkeypatch.setattr("os.cpu_count", lambda: 64)
    assert serving_threads("cpu", None, None) == (8, 1)
    # batching: one thread steps the batch with every core (the event loop runs while it is in a kernel)
    assert serving_threads("cpu", None, None, max_batch=8) == (1, 64)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert serving_threads("cpu", None, None, max_batch=8) == (1, 2)
    assert serving_threads("cpu", None, 1, max_batch=8) == (1, 1)
    assert serving_threads("cuda", None, None, max_batch=8) == (1, None)


def test_each_computing_thread_sets_its_own_pytorch_threads() -> None:
    """The main thread keeps one; a batcher or worker thread gets the count it was given (OpenMP's is per thread)."""
    import threading

    import torch

    from genlab.serve.compute_threads import computing_thread, main_thread

    before = torch.get_num_threads()
    seen: list[int] = []
    try:
        main_thread("cpu")
        assert torch.get_num_threads() == 1
        thread = threading.Thread(target=lambda: (computing_thread(2), seen.append(torch.get_num_threads())))
        thread.start()
        thread.join()
        assert seen == [2]
        assert torch.get_num_threads() == 1  # the main thread's own count is unchanged
    finally:
        torch.set_num_threads(before)


def test_batched_and_unbatched_servers_answer_alike(lm_runs: list[Path], tmp_path: Path, start_server) -> None:
    """Greedy and seeded requests, streamed and not, several at once: --max-batch 4 gives --max-batch 1's text."""
    import concurrent.futures

    import httpx

    bodies = [{"model": run.name, "prompt": prompt, "max_tokens": 24, "temperature": temp, "seed": seed,
               "stream": stream}
              for run in lm_runs for prompt, temp, seed, stream in
              [("the cat", 0.0, None, False), ("안녕", 0.9, 3, True), ("a dog", 1.0, 4, False)]]

    def answer(url: str, body: dict) -> str:
        response = httpx.post(url + "/v1/completions", json=body, timeout=60)
        assert response.status_code == 200
        if not body["stream"]:
            return response.json()["choices"][0]["text"]
        import json as _json

        chunks = [line[6:] for line in response.text.splitlines() if line.startswith("data: {")]
        return "".join(c["text"] for chunk in chunks for c in _json.loads(chunk)["choices"])

    texts = {}
    for batch in ("1", "4"):
        with start_server(lm_runs, tmp_path, "--max-batch", batch) as srv, \
                concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
            texts[batch] = list(pool.map(lambda b: answer(srv.url, b), bodies))
            assert httpx.get(srv.url + "/healthz").json()["batch_rows"] == (
                {} if batch == "1" else {run.name: 0 for run in lm_runs})
    assert texts["1"] == texts["4"]


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_outside_0_to_65535_is_a_usage_error(port, tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "genlab", "serve", str(tmp_path), "--port", port],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "port number 0–65535" in done.stderr and len(done.stderr.strip().splitlines()) == 1
