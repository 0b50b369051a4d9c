"""Errors in OpenAI's error-object shape, so existing clients raise their own typed exceptions.

Every failure a request can cause becomes ``{"error": {"message", "type", "param", "code"}}`` with the
status OpenAI uses for it (the official client maps 400/401/404/422/429/5xx to ``BadRequestError``,
``AuthenticationError``, ``NotFoundError``, …). Bugs become a 500 whose message names no internals;
the traceback goes to the server's log only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("genlab.serve")


class APIError(Exception):
    """A request the server refuses; carries what the client needs to see."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.param, self.code)


def error_body(message: str, type: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def _response(exc: APIError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, APIError)
    return _response(exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Unknown paths and wrong methods, reported like every other error."""
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    message = {404: f"no such endpoint: {request.method} {request.url.path}",
               405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
    return _response(APIError(exc.status_code, message, code=code, headers=getattr(exc, "headers", None)))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
    return _response(bad_request(f"{param}: {first.get('msg', 'invalid value')}", param=param))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error while serving %s %s", request.method, request.url.path)
    return _response(APIError(500, "internal server error (see the server's log)", type="server_error"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
