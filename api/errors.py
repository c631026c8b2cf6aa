"""One place that turns errors into responses: status code, a message, the request id.

Core's errors map by class. Anything else is answered by ``api.metrics.ServingMiddleware``:
a 500 whose body holds no trace, only the request id that finds the trace in the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.metrics import request_id
from core.errors import (
    BackendError,
    ConfigError,
    InputError,
    NotFoundError,
    PermissionDenied,
    RefusedError,
    WorkbenchError,
)
from core.registry import MissingThresholdError

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[WorkbenchError], int], ...] = (
    (MissingThresholdError, 503),  # the live version cannot decide: the server's problem
    (PermissionDenied, 403),
    (RefusedError, 409),
    (NotFoundError, 404),
    (InputError, 422),
    (BackendError, 503),
    (ConfigError, 500),
)
"""Core's error classes and their status codes, most specific first; any other is a 500."""


def status_for(exc: WorkbenchError) -> int:
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def _body(request: Request, detail: object) -> dict[str, object]:
    return {"detail": detail, "request_id": request_id(request.scope)}


MAX_PROBLEMS = 50
"""Problems listed in one 422 at most (a batch of empty objects has 30 per row)."""


def _problem(error: dict[str, Any]) -> dict[str, str]:
    location = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":  # its location is a character offset
        where = location[-1] if location else "?"
        return {
            "field": "body",
            "message": f"{error.get('msg', '')} at character {where}",
            "type": "json_invalid",
        }
    field = ".".join(str(p) for p in location if p != "body") or "body"
    return {"field": field, "message": error.get("msg", ""), "type": error.get("type", "")}


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(WorkbenchError)
    async def workbench_error(request: Request, exc: WorkbenchError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.warning("request %s: %s", request_id(request.scope), exc)
        detail = getattr(exc, "problems", None) or str(exc)  # listed problems, where known
        return JSONResponse(_body(request, detail), status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Named fields and what was wrong; not the input itself (it may be large).
        errors = exc.errors()
        problems = [_problem(e) for e in errors[:MAX_PROBLEMS]]
        if len(errors) > MAX_PROBLEMS:
            more = f"and {len(errors) - MAX_PROBLEMS:,} more"
            problems.append({"field": "body", "message": more, "type": "more"})
        return JSONResponse(_body(request, problems), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            _body(request, exc.detail), status_code=exc.status_code, headers=exc.headers
        )
