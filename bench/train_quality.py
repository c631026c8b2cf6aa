"""Model quality on the real ULB sample: LightGBM vs the LogReg baseline, same time split.

Usage: .venv/bin/python bench/train_quality.py [--data ../shared/data/creditcard_sample.csv]
        [--runs 3]

Each run trains both kinds through core.training.train_from_csv (the code `workbench train`
runs) into a throwaway embedded home, so the figures include MLflow logging. Prints a
markdown table: test AUPRC / ROC-AUC / F1 at the validation-chosen threshold, and the
median wall time over the runs.
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import tempfile
import time
from pathlib import Path

from core.auth import Actor, Role
from core.config import Settings
from core.training import train_from_csv

BENCH = Actor(name="bench", role=Role.ML_LEAD, mode="bench")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "creditcard_sample.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found: the real ULB sample is not committed")
    logging.basicConfig(level=logging.WARNING)
    rows: dict[str, list] = {"lightgbm": [], "logreg": []}
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as home:
            settings = Settings(home=Path(home))
            for kind in rows:
                start = time.perf_counter()
                result = train_from_csv(args.data, settings=settings, model_kind=kind, actor=BENCH)
                rows[kind].append((result, time.perf_counter() - start))
        print(f"run {run + 1}/{args.runs} done", flush=True)
    print(f"\nmachine: {platform.node()} {platform.machine()}, Python {platform.python_version()}")
    first = rows["lightgbm"][0][0]
    print(f"split (by Time): {first.split_sizes}\n")
    print("| model | test AUPRC | ROC-AUC | F1 @ threshold | threshold | train+log s (median) |")
    print("|---|---|---|---|---|---|")
    for kind, results in rows.items():
        auprcs = [r.metrics.auprc for r, _ in results]
        m = results[0][0].metrics
        spread = (
            ""
            if max(auprcs) - min(auprcs) < 1e-12
            else f" (range {min(auprcs):.4f}-{max(auprcs):.4f})"
        )
        print(
            f"| {kind} | {statistics.median(auprcs):.4f}{spread} | {m.roc_auc:.4f} | {m.f1:.4f} | "
            f"{m.threshold:.4f} | {statistics.median(t for _, t in results):.1f} |"
        )
    ratio = statistics.median(r.metrics.auprc for r, _ in rows["lightgbm"]) / statistics.median(
        r.metrics.auprc for r, _ in rows["logreg"]
    )
    print(f"\nLightGBM / LogReg test AUPRC: {ratio:.3f}")


if __name__ == "__main__":
    main()
