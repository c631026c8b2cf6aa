"""A diagnostic wrapper of the sidecar for bench/api_latency.py: ``api.app.create_app`` as
it is, plus a garbage-collector hook that prints each full (generation 2) collection's pause
to stderr as ``BENCH-GC {"pause_ms": ..., "objects": ...}``; with ``BENCH_GC_FREEZE=1`` it
also moves everything alive once the app has started (model loaded, keys read) into the
permanent generation (``gc.collect()`` then ``gc.freeze()``), so full collections no longer
scan MLflow's, LightGBM's and scikit-learn's objects.

Served by the bench with ``uvicorn bench.api_gc:create_app --factory --loop uvloop --http
httptools --no-access-log``: the sidecar's app, without the CLI around it.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from api.app import create_app as create_sidecar

_started: list[float] = []


def _log_full_collections(phase: str, info: dict[str, Any]) -> None:
    if info["generation"] != 2:
        return
    if phase == "start":
        _started[:] = [time.perf_counter()]
        return
    pause = 1000 * (time.perf_counter() - _started[0])
    line = json.dumps({"pause_ms": round(pause, 2), "objects": len(gc.get_objects())})
    print(f"BENCH-GC {line}", file=sys.stderr, flush=True)


def create_app() -> FastAPI:
    app = create_sidecar()
    gc.callbacks.append(_log_full_collections)
    if os.environ.get("BENCH_GC_FREEZE") == "1":
        started = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
            async with started(app) as state:
                gc.collect()
                gc.freeze()
                yield state

        app.router.lifespan_context = lifespan
    return app
