"""Latency of one transaction's explanation in core (target: at most 10 ms).

Usage: .venv/bin/python bench/explain_latency.py [--calls 2000]

Times `compute_contributions` + `compute_reasons` on one row at a time, for the demo
LightGBM version (from bench/out/home, made by bench/score_throughput.py or on first use)
and for a LogReg pipeline fitted on the same demo data. Prints median and p95 per call.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from core.bootstrap import demo_data_path, ensure_demo_model
from core.config import Settings
from core.data import load_transactions
from core.explain import compute_contributions, compute_reasons
from core.registry import get_version_by_alias, load_model
from core.schema import FEATURES
from core.training.split import split_by_time
from core.training.train import _fit, _xy

HOME = Path(__file__).resolve().parent / "out" / "home"


def _time_calls(estimator, kind: str, rows: np.ndarray, calls: int) -> list[float]:  # type: ignore[no-untyped-def]
    timings = []
    for i in range(calls):
        row = rows[i % len(rows)][None, :]
        start = time.perf_counter()
        compute_reasons(compute_contributions(estimator, kind, row), row)
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    settings = Settings(home=HOME)
    ensure_demo_model(settings)
    booster = load_model(settings, get_version_by_alias(settings)).estimator
    split = split_by_time(load_transactions(demo_data_path(settings), require_label=True).valid)
    (xt, yt), (xv, yv) = _xy(split.train), _xy(split.validation)
    logreg, _ = _fit("logreg", xt, yt, xv, yv)
    rows = split.test[list(FEATURES)].to_numpy(dtype=np.float64)[:500]
    print("| model | calls | median ms | p95 ms |")
    print("|---|---|---|---|")
    for kind, estimator in (("lightgbm", booster), ("logreg", logreg)):
        _time_calls(estimator, kind, rows, 50)  # warm-up
        timings = sorted(_time_calls(estimator, kind, rows, args.calls))
        p95 = timings[int(0.95 * len(timings)) - 1]
        trees = f" ({booster.num_trees()} trees)" if kind == "lightgbm" else ""
        print(f"| {kind}{trees} | {args.calls} | {statistics.median(timings):.3f} | {p95:.3f} |")


if __name__ == "__main__":
    main()
