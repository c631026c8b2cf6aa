"""Latency of one transaction's explanation in core (target: at most 10 ms).

Usage: .venv/bin/python bench/explain_latency.py [--calls 2000]

Times the adapter's `contributions` + `compute_reasons` on one row at a time, for the demo
LightGBM version (from bench/out/home, made by bench/score_throughput.py or on first use)
and for a LogReg pipeline fitted on the same demo data. Prints median and p95 per call.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from core.auth import Actor, Role
from core.bootstrap import demo_data_path, ensure_demo_model
from core.config import Settings
from core.data import load_transactions
from core.explain import compute_reasons
from core.models import LogRegModel, ModelAdapter
from core.registry import get_version_by_alias, load_model
from core.schema import FEATURES
from core.training.split import split_by_time
from core.training.train import _fit, _xy

HOME = Path(__file__).resolve().parent / "out" / "home"

BENCH = Actor(name="bench", role=Role.ML_LEAD, mode="bench")


def _time_calls(model: ModelAdapter, rows: np.ndarray, calls: int) -> list[float]:
    timings = []
    for i in range(calls):
        row = rows[i % len(rows)][None, :]
        start = time.perf_counter()
        compute_reasons(model.contributions(row), row)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    settings = Settings(home=HOME)
    ensure_demo_model(settings, actor=BENCH)
    lightgbm = load_model(settings, get_version_by_alias(settings)).adapter
    split = split_by_time(load_transactions(demo_data_path(settings), require_label=True).valid)
    (xt, yt), (xv, yv) = _xy(split.train), _xy(split.validation)
    logreg, _ = _fit("logreg", xt, yt, xv, yv)
    rows = split.test[list(FEATURES)].to_numpy(dtype=np.float64)[:500]
    print("| model | calls | median ms | p95 ms |")
    print("|---|---|---|---|")
    for model in (lightgbm, LogRegModel(logreg)):
        _time_calls(model, rows, 50)  # warm-up
        timings = sorted(_time_calls(model, rows, args.calls))
        p95 = timings[int(0.95 * len(timings)) - 1]
        kind = model.kind
        trees = f" ({model.estimator.num_trees()} trees)" if model is lightgbm else ""
        print(f"| {kind}{trees} | {args.calls} | {statistics.median(timings):.3f} | {p95:.3f} |")


if __name__ == "__main__":
    main()
