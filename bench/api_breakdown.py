"""Where the sidecar's time goes: the pieces of POST /v1/score timed in-process, and the
three apps (ours, the plain route, the bare route) called through ASGI with no socket.

Usage (bench/api_latency.py runs it in a subprocess, once per prometheus-client mode):
    BENCH_API_KEY=<key> WORKBENCH_HOME=<home> BENCH_MODEL_FILE=<booster.txt> \\
    .venv/bin/python bench/api_breakdown.py --bodies <bodies.json> [--multiprocess-metrics]

Each piece is a timeit-style loop over the real objects the request path uses (the live
model, the key cache over the app database, the audit recorder, the metrics), cycling over
the bench's rows; the figure is the median of 7 repeats, in microseconds per call. The ASGI
figures (bench/api_asgi.py, over the apps of bench/api_ladder.py) run each app's whole
request path (our app with its lifespan started: watcher, key refresh and the audit
recorder flushing to SQLite in the background) on uvloop, without uvicorn, httptools or
the client. Prints one JSON document.

``--multiprocess-metrics`` sets ``PROMETHEUS_MULTIPROC_DIR`` (as ``serve-api --workers N``
does) before anything imports prometheus-client, so the metric updates go to mmap files.
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this file
from api_asgi import REPEATS, measure_apps

REPO = Path(__file__).resolve().parents[1]


def per_call_us(call: Callable[[], object], *, loops: int) -> float:
    """Median over REPEATS of the mean time of ``loops`` calls, in microseconds."""
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter_ns()
        for _ in range(loops):
            call()
        runs.append((time.perf_counter_ns() - start) / loops / 1000)
    return statistics.median(runs)


def measure_pieces(bodies: list[bytes], key: str, *, loops: int) -> list[dict[str, Any]]:
    """The request path of POST /v1/score, piece by piece, on the live model."""
    from fastapi.security.utils import get_authorization_scheme_param
    from pydantic import TypeAdapter

    from api import metrics
    from api.routes import features_of
    from api.schemas import ModelRef, ScoreItem, ScoreOut, transaction_model
    from core.apikeys import ApiKeyCache
    from core.config import Settings
    from core.serving import AuditRecorder, LiveModelWatcher

    settings = Settings()
    watcher = LiveModelWatcher(settings)
    if not watcher.check():
        raise RuntimeError(f"no live model: {watcher.problem}")
    live = watcher.current
    assert live is not None
    keys = ApiKeyCache(settings)
    keys.refresh()
    recorder = AuditRecorder(settings)  # not started: record() only appends
    # FastAPI validates the body through a TypeAdapter of the route's model
    transaction = TypeAdapter(transaction_model(unknown_fields=settings.api_unknown_fields))
    response = TypeAdapter(ScoreOut)
    parsed = [json.loads(b) for b in bodies]
    rows = [transaction.validate_python(p, from_attributes=True) for p in parsed]
    features = [features_of([r]) for r in rows]
    scored = [live.score(f) for f in features]
    booster = live.model.estimator
    header = f"Bearer {key}"
    i = itertools.count()

    def nth(items: list[Any]) -> Any:
        return items[next(i) % len(items)]

    def middleware_state() -> None:
        state: dict[str, Any] = {}
        state["request_id"], state["started"] = uuid.uuid4().hex, time.perf_counter()

    def key_check() -> None:
        scheme, credentials = get_authorization_scheme_param(header)
        if scheme.lower() != "bearer" or keys.authenticate(credentials) is None:
            raise RuntimeError("the key was refused")

    def record() -> None:
        f = nth(features)
        probability, decision = scored[0]
        recorder.record(
            live,
            actor="bench",
            features=f,
            probability=probability,
            decision=decision,
            transaction_ids=[None],
            reasons=None,
            latency_ms=1.0,
        )
        if len(recorder._pending) > 10_000:
            recorder._pending.clear()  # memory only: this recorder never flushes

    def count_and_time() -> None:
        metrics.PREDICTIONS.labels("no_alert").inc(1)
        metrics.REQUESTS.labels("/v1/score", "POST", "200").inc()
        metrics.LATENCY.labels("/v1/score").observe(0.0012)

    def build_response() -> ScoreOut:
        probability, decision = nth(scored)
        item = ScoreItem(
            transaction_id=None,
            probability=float(probability[0]),
            decision="alert" if decision[0] else "no_alert",
            alert=bool(decision[0]),
            reasons=None,
            explanation_problem=None,
        )
        return ScoreOut(
            **item.__dict__,
            request_id=uuid.uuid4().hex,
            threshold=live.threshold,
            model=ModelRef(name=live.name, version=live.version, alias=live.alias),
        )

    out = build_response()
    pieces: list[tuple[str, Callable[[], object], str]] = [
        ("middleware: request id + clock", middleware_state, "uuid4().hex, perf_counter"),
        ("body: JSON parse", lambda: json.loads(nth(bodies)), "json.loads of the body bytes"),
        (
            "body: pydantic validation, 30 fields",
            lambda: transaction.validate_python(nth(parsed), from_attributes=True),
            "strict finite floats, Time/Amount >= 0, extra=forbid",
        ),
        ("key: header parse + ApiKeyCache.authenticate", key_check, "regex, dict, SHA-256"),
        ("features_of: the (1, 30) float64 row", lambda: features_of([nth(rows)]), ""),
        (
            "predict: booster.predict, 1 row, 1 thread",
            lambda: booster.predict(nth(features), num_threads=1),
            f"{booster.num_trees()} trees",
        ),
        (
            "live.score: predict_proba + threshold",
            lambda: live.score(nth(features)),
            "includes the predict above",
        ),
        ("audit: recorder.record (queue only)", record, "the write is on a background thread"),
        (
            "metrics: 2 counters + 1 histogram",
            count_and_time,
            "multiprocess (mmap files)"
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR")
            else "single process (in memory)",
        ),
        ("response: ScoreItem + ScoreOut built", build_response, ""),
        (
            "response: validate + dump JSON",
            lambda: response.dump_json(response.validate_python(out, from_attributes=True)),
            "FastAPI's response_model fast path",
        ),
    ]
    result = []
    for name, call, note in pieces:
        call()
        result.append({"piece": name, "us": per_call_us(call, loops=loops), "note": note})
    fast = single_row_fast(booster)
    for r in features[:50]:
        if abs(fast(r) - live.score(r)[0][0]) > 1e-12:
            raise RuntimeError("LightGBM's single-row C API gives another probability")
    alternatives: list[tuple[str, Callable[[], object], str]] = [
        (
            "alternative: pydantic validate_json on the body bytes",
            lambda: transaction.validate_json(nth(bodies)),
            "parse + validate in pydantic-core, instead of json.loads + validate_python",
        ),
        (
            "alternative: LightGBM's single-row C API, 1 row",
            lambda: fast(nth(features)),
            "LGBM_BoosterPredictForMatSingleRowFast, set up once; same probabilities",
        ),
    ]
    for name, call, note in alternatives:
        call()
        us = per_call_us(call, loops=loops)
        result.append({"piece": name, "us": us, "note": note, "alternative": True})
    result.append(
        {
            "piece": "audit: the background flush, per request",
            "us": flush_per_request(recorder, record),
            "note": "1,000 requests' rows written to SQLite in one event, divided by 1,000; "
            "on the worker's own CPU, outside the request",
        }
    )
    return result


def single_row_fast(booster: Any) -> Callable[[Any], float]:
    """LightGBM's C API for one row at a time (``...SingleRowFastInit`` once, then
    ``...SingleRowFast`` per row, one thread): what the booster's Python ``predict`` costs
    above the trees themselves. Not used by the sidecar; measured as an option."""
    import ctypes

    import numpy as np
    from lightgbm.basic import _LIB, _c_str, _safe_call

    handle, length = ctypes.c_void_p(), ctypes.c_int64(0)
    out = np.zeros(1)
    _safe_call(
        _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle,
            ctypes.c_int(0),  # C_API_PREDICT_NORMAL: the probability
            ctypes.c_int(0),  # start iteration
            ctypes.c_int(-1),  # every iteration (the model is saved at its best)
            ctypes.c_int(1),  # C_API_DTYPE_FLOAT64
            ctypes.c_int32(booster.num_feature()),
            _c_str("num_threads=1"),
            ctypes.byref(handle),
        )
    )
    target = out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))

    def predict(row: Any) -> float:
        x = np.ascontiguousarray(row, dtype=np.float64)
        data = x.ctypes.data_as(ctypes.c_void_p)
        _safe_call(
            _LIB.LGBM_BoosterPredictForMatSingleRowFast(handle, data, ctypes.byref(length), target)
        )
        return float(out[0])

    return predict


def flush_per_request(recorder: Any, record: Callable[[], None]) -> float:
    """Microseconds of CPU per request that the audit flush costs (median of REPEATS flushes
    of 1,000 recorded requests each, into the home's database)."""
    recorder._pending.clear()
    runs = []
    for _ in range(REPEATS):
        for _ in range(1000):
            record()
        start = time.process_time_ns()  # this thread's and the flush's CPU: one thread here
        recorder.flush()
        runs.append((time.process_time_ns() - start) / 1000 / 1000)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=Path, required=True, help="JSON list of request bodies")
    parser.add_argument("--loops", type=int, default=2000)
    parser.add_argument("--multiprocess-metrics", action="store_true")
    args = parser.parse_args()
    if args.multiprocess_metrics:  # before prometheus-client is imported
        folder = tempfile.mkdtemp(prefix="apibench-metrics-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    sys.path.insert(0, str(REPO))  # this checkout's api/ and core/, whatever is installed
    import uvloop

    key = os.environ["BENCH_API_KEY"]
    bodies = [json.dumps(b).encode() for b in json.loads(args.bodies.read_text())]
    pieces = measure_pieces(bodies, key, loops=args.loops)
    apps = uvloop.run(measure_apps(bodies, key, loops=args.loops))
    print(
        json.dumps(
            {
                "multiprocess_metrics": args.multiprocess_metrics,
                "pieces": pieces,
                "asgi_us": {
                    k: v
                    for k, v in apps.items()
                    if k in ("bare", "plain", "ours-hourly", "ours", "bare_beside_ours")
                },
                "ladder": apps["ladder"],
                "gc": apps["gc"],
                "predict_us": apps["predict_after_a_request"],
            }
        )
    )


if __name__ == "__main__":
    main()
