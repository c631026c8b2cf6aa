"""The sidecar and the comparison apps called through ASGI, with no socket, for
bench/api_breakdown.py: microseconds per request of each app (interleaved rounds), the
garbage collections the sidecar's requests cause, and booster.predict right after a request.

Requests go straight to the app's ASGI callable on uvloop: no uvicorn, no httptools, no
client, so the figures are the apps' own request paths (FastAPI, the route, the model).
"""

from __future__ import annotations

import gc
import itertools
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

REPEATS = 7


def asgi_caller(app: Any, bodies: list[bytes], key: str) -> Callable[[], Any]:
    """A coroutine factory that sends POST /v1/score to ``app`` (the next body each time)
    and checks the 200."""
    requests = [
        (
            body,
            [
                (b"host", b"127.0.0.1:8000"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"authorization", f"Bearer {key}".encode()),
            ],
        )
        for body in bodies
    ]
    turn = itertools.cycle(requests)

    async def call() -> None:
        body, headers = next(turn)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/score",
            "raw_path": b"/v1/score",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        messages = iter([{"type": "http.request", "body": body, "more_body": False}])
        status = []

        async def receive() -> dict[str, Any]:
            return next(messages, {"type": "http.disconnect"})

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        if status != [200]:
            raise RuntimeError(f"the app answered {status}")

    return call


async def time_asgi(
    apps: dict[str, Any], bodies: list[bytes], key: str, *, loops: int
) -> dict[str, float]:
    """Microseconds per request for each app: the median of REPEATS rounds, each round
    timing ``loops`` requests to every app in turn (interleaved, so a burst of load on the
    machine hits every app, not one)."""
    calls = {name: asgi_caller(app, bodies, key) for name, app in apps.items()}
    for call in calls.values():
        for _ in range(200):  # warm-up
            await call()
    runs: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(REPEATS):
        for name, call in calls.items():
            start = time.perf_counter_ns()
            for _ in range(loops):
                await call()
            runs[name].append((time.perf_counter_ns() - start) / loops / 1000)
    return {name: statistics.median(r) for name, r in runs.items()}


async def measure_apps(bodies: list[bytes], key: str, *, loops: int) -> dict[str, Any]:
    """The helper apps, the ladder's rungs and the sidecar, each through ASGI: microseconds
    per request.

    Two phases. First the ladder, the helper apps and the sidecar with its background work
    (audit flush, key refresh, alias watch) set to hourly, interleaved: no background thread
    runs, so each step is the request path's own. Then the sidecar as configured (flush every
    second, keys and alias every 5 s), interleaved with the bare route as an anchor: the
    difference is what the background work costs the requests.
    """
    from api.app import create_app
    from api.runtime import Runtime
    from bench import api_bare, api_plain
    from bench.api_ladder import build_ladder
    from core.config import Settings

    settings = Settings()
    runtime = Runtime(settings)  # not started: the ladder only needs its keys
    runtime.refresh_keys()
    if not runtime.watcher.check():
        raise RuntimeError(f"no live model: {runtime.watcher.problem}")
    assert runtime.live is not None
    ladder = build_ladder(runtime, runtime.live)
    hourly = settings.model_copy(
        update={"api_audit_flush": 3600.0, "api_key_refresh": 3600.0, "api_reload_interval": 3600.0}
    )
    quiet = create_app(hourly)
    apps = {"bare": api_bare.app, "plain": api_plain.app, **dict(ladder), "ours-hourly": quiet}
    async with quiet.router.lifespan_context(quiet):  # loads the model and the keys
        timed = await time_asgi(apps, bodies, key, loops=loops)
    ours = create_app(settings)
    async with ours.router.lifespan_context(ours):  # watcher, key refresh, audit flushes
        anchored = await time_asgi({"bare": api_bare.app, "ours": ours}, bodies, key, loops=loops)
        collections = await count_collections(ours, bodies, key, requests=10 * loops)
    out: dict[str, Any] = {name: timed[name] for name in ("bare", "plain", "ours-hourly")}
    out["ours"], out["bare_beside_ours"] = anchored["ours"], anchored["bare"]
    rungs = [*(name for name, _ in ladder), "ours-hourly"]
    ladder_out = [{"rung": name, "us": timed[name]} for name in rungs]
    ladder_out[-1]["rung"] = (
        "+ the sidecar's own route (api.app.create_app, background work hourly): live.score, "
        "audit record, prediction counter, its other routes"
    )
    out["ladder"] = ladder_out
    out["gc"] = collections
    out["predict_after_a_request"] = await predict_after_a_request(
        runtime.live.model.estimator, api_bare.app, bodies, key, loops=loops
    )
    return out


async def predict_after_a_request(
    booster: Any, app: Any, bodies: list[bytes], key: str, *, loops: int
) -> dict[str, float]:
    """booster.predict on one row, microseconds (median of ``loops`` calls): back to back,
    and each right after a request to ``app`` (the trees no longer all in the CPU's caches,
    as on the request path)."""
    import numpy as np

    rows = [np.array([list(json.loads(b).values())], dtype=np.float64) for b in bodies]
    call = asgi_caller(app, bodies, key)
    out = {}
    for case in ("back_to_back", "after_a_request"):
        times = []
        for i in range(loops):
            if case == "after_a_request":
                await call()
            start = time.perf_counter_ns()
            booster.predict(rows[i % len(rows)], num_threads=1)
            times.append(time.perf_counter_ns() - start)
        out[case] = statistics.median(times) / 1000
    return out


async def count_collections(app: Any, bodies: list[bytes], key: str, *, requests: int) -> dict:
    """Garbage collections by generation, and their total pause, over ``requests`` requests
    to ``app`` (the sidecar: its heap holds MLflow, LightGBM and scikit-learn)."""
    started: dict[int, float] = {}
    seen = {g: {"collections": 0, "pause_ms": 0.0} for g in range(3)}

    def watch(phase: str, info: dict[str, int]) -> None:
        generation = info["generation"]
        if phase == "start":
            started[generation] = time.perf_counter()
        else:
            seen[generation]["collections"] += 1
            seen[generation]["pause_ms"] += 1000 * (time.perf_counter() - started[generation])

    call = asgi_caller(app, bodies, key)
    gc.callbacks.append(watch)
    try:
        for _ in range(requests):
            await call()
    finally:
        gc.callbacks.remove(watch)
    return {"requests": requests, "tracked_objects": len(gc.get_objects()), "by_generation": seen}
