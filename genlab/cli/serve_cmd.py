"""``genlab serve RUN [RUN …]``: an OpenAI-compatible HTTP API and a web playground for trained runs.

Safe by default: listens on 127.0.0.1 only, caps ``max_tokens``, request size and concurrent
generations; ``--api-key`` (or ``GENLAB_API_KEY``) requires ``Authorization: Bearer KEY`` on ``/v1``.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys

from genlab.cli.args import add_device, nonneg_int, port_number, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve trained runs over an OpenAI-compatible HTTP API with a playground",
                       description="Serve runs at /v1/models, /v1/completions, /v1/chat/completions (streaming, "
                       "logprobs), /v1/responses, /healthz, and a playground at /. Model ids are the run "
                       "directories' names.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories to serve")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes it)")
    p.add_argument("--port", type=port_number, default=8000, help="port (0: pick a free one and print it)")
    p.add_argument("--api-key", default=os.environ.get("GENLAB_API_KEY"),
                   help="require `Authorization: Bearer KEY` on /v1 (default: $GENLAB_API_KEY, else none)")
    p.add_argument("--max-batch", type=positive_int, default=DEFAULT_MAX_BATCH,
                   help=f"rows (choices) a model decodes in one batched step: requests join and leave the running "
                   f"batch token by token (default {DEFAULT_MAX_BATCH}; 1: decode each request on its own)")
    p.add_argument("--max-concurrency", type=positive_int,
                   help="requests generating at once (default: the larger of 8 and --max-batch); more wait in line")
    p.add_argument("--workers", type=positive_int,
                   help="with --max-batch 1: threads computing tokens (default: one per CPU core, up to 8, on CPU; "
                   "1 on a GPU)")
    p.add_argument("--max-queue", type=nonneg_int, default=32,
                   help="requests that may wait for a slot; more get 429")
    p.add_argument("--queue-timeout", type=positive_int, default=30,
                   help="seconds a request may wait for a slot before it gets 503")
    p.add_argument("--max-tokens-cap", type=positive_int, default=1024,
                   help="largest max_tokens a request may ask for (also the chat default)")
    p.add_argument("--max-body-bytes", type=positive_int, default=1_000_000, help="largest request body")
    p.add_argument("--max-choices", type=positive_int, default=16, help="largest n × number of prompts")
    p.add_argument("--max-stored-responses", type=nonneg_int, default=1000,
                   help="/v1/responses kept in memory for previous_response_id; the least recently used go "
                   "first (0: keep none)")
    p.add_argument("--which", default="best", choices=["best", "latest"], help="which checkpoint to load")
    p.add_argument("--quantize", choices=["none", "int8"], default="none",
                   help="int8: int8 weights with per-call activation quantization (CPU, neural models)")
    p.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32",
                   help="store the weights (and KV cache) in 16 bits: bfloat16 on a CPU with AVX-512 BF16 or AMX, "
                   "bfloat16/float16 on a GPU; scores stay float32")
    p.add_argument("--threads", type=positive_int,
                   help="PyTorch CPU threads of each thread that computes tokens (default on a CPU: every core "
                   "for the batcher; with --max-batch 1, the cores shared out among the --workers)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    add_device(p)
    p.set_defaults(func=run)


def _bind(host: str, port: int) -> socket.socket:
    """Bind before loading anything slow, so a taken port is a one-line error, and port 0 can be printed."""
    from genlab.errors import GenlabError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise GenlabError(f"--host {host}: cannot resolve it ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise GenlabError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                          "(is another server using it? choose another --port)") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _make_server(config, on_exit):
    """A uvicorn server (defined here, on demand: uvicorn is an optional dependency)."""
    import asyncio
    import contextlib

    import uvicorn

    class Server(uvicorn.Server):
        """Ctrl-C / SIGTERM also ends running generations at once (their clients get an error event), so
        shutting down does not wait out a long stream."""

        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            with contextlib.suppress(RuntimeError):  # in a signal handler: only schedule the work
                asyncio.get_running_loop().call_soon_threadsafe(on_exit)

    return Server(config)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


#: measured with benchmarks/serve_load.py (see README): the batch a 2-core CPU serves best
DEFAULT_MAX_BATCH = 8


def serving_threads(device: str, workers: int | None, threads: int | None,
                    max_batch: int = 1) -> tuple[int, int | None]:
    """Worker threads and the PyTorch threads of each, for serving on ``device``.

    With batching, one thread per model steps the whole batch with every core: the event loop that
    turns tokens into SSE chunks needs little, and it runs while the batcher is inside a kernel. (An
    older measurement found 1 thread faster than 2; that was the main thread's OpenMP team competing
    with the batcher's, which ``genlab.serve.compute_threads`` now prevents: 8 clients, 2 cores, 1,089
    tokens/s with 2 threads against 806 with 1.) Without batching (``--max-batch 1``), measured with
    ``benchmarks/serve_load.py`` (6-layer GPT, 2 cores, 8 streaming clients): one worker with
    PyTorch's threads serialises every request's prompt behind the others (time to first token p99
    242 ms); one worker per core, each computing with one thread, runs two requests at once (p99
    122 ms, 1.4× the tokens/s). A GPU runs one kernel stream, so one worker there.
    """
    cpu = str(device) == "cpu"
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if cpu and max_batch == 1 else 1
    if threads is None and cpu:  # every core to the batcher, or to one worker; one each to several workers
        threads = 1 if max_batch == 1 and workers > 1 else os.cpu_count() or 1
    return workers, threads


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from genlab.serve import ServeLimits, create_app, load_runs
    except ModuleNotFoundError as exc:
        from genlab.errors import GenlabError

        raise GenlabError(f"genlab serve needs the serve extra ({exc.name} is missing): "
                          "pip install 'genlab[serve]'") from None
    from genlab.devices import resolve_device

    device = resolve_device(args.device)
    workers, threads = serving_threads(device, args.workers, args.threads, args.max_batch)
    concurrency = args.max_concurrency or max(8, args.max_batch)
    limits = ServeLimits(max_concurrency=concurrency, workers=workers, max_batch=args.max_batch, threads=threads,
                         max_queue=args.max_queue,
                         queue_timeout=float(args.queue_timeout), max_tokens_cap=args.max_tokens_cap,
                         max_body_bytes=args.max_body_bytes, max_choices=args.max_choices,
                         max_stored_responses=args.max_stored_responses)
    limits.validate()
    from genlab.serve.compute_threads import main_thread

    main_thread(device)  # the computing threads set their own (genlab.serve.compute_threads)
    sock = _bind(args.host, args.port)
    try:
        registry = load_runs(args.runs, device=device, which=args.which, quantize=args.quantize,
                             dtype=args.dtype)
        app = create_app(registry, limits, api_key=args.api_key)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        if not _is_loopback(host) and not args.api_key:
            print(f"genlab serve: warning: listening on {host} without --api-key: anyone who can reach this "
                  "machine can use the models", file=sys.stderr)
        print(f"genlab serve: {', '.join(registry.ids())} at http://{shown}:{port}/v1 "
              f"(playground: http://{shown}:{port}/) — Ctrl-C stops", file=sys.stderr, flush=True)
        config = uvicorn.Config(app, log_level=args.log_level, timeout_graceful_shutdown=5, server_header=False)
        _make_server(config, app.state.genlab.shut_down).run(sockets=[sock])
    finally:
        sock.close()
    return 0
