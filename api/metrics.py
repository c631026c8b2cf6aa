"""Prometheus metrics, and the ASGI middleware that counts requests, names them and bounds
their bodies.

``prometheus-client`` in its multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set
(``workbench serve-api --workers N`` sets it): each worker writes its samples to files
there and ``/metrics`` adds them up, so any worker answers for all. The variable must be set
before this module is imported, which the CLI does before uvicorn starts.

The middleware is plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` (which costs a
task and a stream per request), and labels requests by their route's path template, never
the raw path, so unknown paths cannot grow the label set. It also bounds request bodies:
FastAPI's own ``max_body_size`` answers a bare ``Content Too Large`` in plain text at the
first read of the body; ours answers before the request is routed, in the JSON every other
error has, naming the limit and the setting that sets it.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from typing import Any

from fastapi import HTTPException
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

disable_created_metrics()  # no *_created series: they double the text and nobody reads them

REQUESTS = Counter(
    "workbench_api_requests_total",
    "HTTP requests, by route template, method and status code.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "workbench_api_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template.",
    ["route"],
    buckets=(0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PREDICTIONS = Counter(
    "workbench_api_predictions_total", "Transactions scored, by decision.", ["decision"]
)
MODEL_VERSION = Gauge(
    "workbench_api_model_version",
    "The live model version each worker serves (0: none loaded yet).",
    multiprocess_mode="liveall",
)
RELOADS = Counter("workbench_api_model_reloads_total", "Swaps to a new version or threshold.")
AUDIT_SPOOLED = Counter(
    "workbench_api_audit_spooled_total",
    "Prediction records written to the local audit spool (or set aside) instead of the database.",
)
AUDIT_STORED = Counter(
    "workbench_api_audit_records_total", "Prediction records written to the audit database."
)


def render_metrics() -> tuple[bytes, str]:
    """The metrics as Prometheus text: summed over every worker in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def request_id(scope: Scope) -> str | None:
    """The id the middleware gave this request (also sent as ``X-Request-ID``)."""
    return scope.get("state", {}).get("request_id")


def request_started(scope: Scope) -> float:
    """When the request arrived (``time.perf_counter``)."""
    return scope.get("state", {}).get("started", time.perf_counter())


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        status_code=413,
        detail=f"the request body is larger than {limit:,} bytes "
        "(WORKBENCH_API_MAX_BODY_BYTES); send fewer transactions per request",
    )


class ServingMiddleware:
    """Request id, body limit and metrics for every HTTP request.

    - each request gets an id, in ``scope["state"]`` and the ``X-Request-ID`` header;
    - a body whose ``Content-Length`` is over ``max_body_bytes`` gets 413 before anything
      reads it; a body without one (chunked) gets 413 as soon as it passes the limit;
    - the request is counted by route template, method and status, and timed.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrived = time.perf_counter()
        rid = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"], state["started"] = rid, arrived
        status = 500
        header = rid.encode()

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", header)]
            await send(message)

        try:
            length = _content_length(scope)
            if length is not None and length > self.max_body_bytes:
                detail = _too_large(self.max_body_bytes).detail
                await self._respond(send_with_id, 413, detail, rid, close=True)
                return
            await self.app(scope, self._bounded(receive), send_with_id)
        except Exception:
            # Answered here, inside the request id's reach: a 500 with the id in its body and
            # header, the trace in the log only. Not re-raised: it is logged once, here.
            log.exception("request %s failed", rid)
            if status == 500 and not started:
                await self._respond(
                    send_with_id,
                    500,
                    f"internal error; the server's log has it under request id {rid}",
                    rid,
                )
        finally:
            route: Any = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            REQUESTS.labels(template, scope["method"], str(status)).inc()
            LATENCY.labels(template).observe(time.perf_counter() - arrived)

    def _bounded(self, receive: Receive) -> Receive:
        limit = self.max_body_bytes
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)  # FastAPI passes HTTPException on as it is
            return message

        return bounded

    async def _respond(
        self, send: Send, status: int, detail: str, rid: str, *, close: bool = False
    ) -> None:
        body = json.dumps({"detail": detail, "request_id": rid}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if close:  # the unread body is still on the wire
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
