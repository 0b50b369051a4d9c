"""Serving: any trained language model behind an OpenAI-compatible HTTP API, with a web playground.

``genlab serve RUN …`` loads each run (model id = run directory name) and starts uvicorn on
127.0.0.1. Endpoints: ``GET /v1/models``, ``POST /v1/completions``, ``POST /v1/chat/completions``
(streamed as server-sent events when ``stream`` is true), ``GET /healthz``, and the playground at
``/`` that tints every generated token by its probability. Needs the ``serve`` extra (FastAPI, uvicorn).
"""

from genlab.serve.app import create_app
from genlab.serve.limits import ServeLimits
from genlab.serve.registry import ModelRegistry, ServedModel, load_runs

__all__ = ["create_app", "ServeLimits", "ModelRegistry", "ServedModel", "load_runs"]
