"""The FastAPI app: OpenAI-compatible ``/v1`` routes, ``/healthz``, and the playground at ``/``.

``create_app`` takes models that are already loaded, so the process that serves never touches a
path a request names. Interactive API docs are off: they would load scripts from a CDN.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from genlab import __version__
from genlab.serve import chat_completions, completions, feedback, responses
from genlab.serve.errors import install_error_handlers
from genlab.serve.limits import ServeLimits
from genlab.serve.registry import ModelRegistry
from genlab.serve.state import ServeState, require_api_key, serve_state

STATIC = Path(__file__).parent / "static"
#: the playground may load only what this server serves
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def create_app(registry: ModelRegistry, limits: ServeLimits | None = None, api_key: str | None = None) -> FastAPI:
    state = ServeState(registry, limits or ServeLimits(), api_key or None)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(title="genlab", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.genlab = state
    install_error_handlers(app)

    @app.get("/healthz")
    async def healthz(request: Request) -> dict[str, Any]:
        state = serve_state(request)
        return {"status": "ok", "models": state.registry.ids(), "generating": state.gate.running,
                "waiting": state.gate.waiting, "batch_rows": {k: b.running for k, b in state.batchers.items()}}

    @app.get("/v1/models", dependencies=[Depends(require_api_key)])
    async def list_models(request: Request) -> dict[str, Any]:
        return {"object": "list", "data": [m.card() for m in serve_state(request).registry]}

    @app.get("/v1/models/{model_id}", dependencies=[Depends(require_api_key)])
    async def retrieve_model(model_id: str, request: Request) -> dict[str, Any]:
        return serve_state(request).registry.get(model_id).card()

    app.include_router(completions.router)
    app.include_router(chat_completions.router)
    app.include_router(responses.router)
    app.include_router(feedback.router)

    @app.get("/", include_in_schema=False)
    async def playground() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
