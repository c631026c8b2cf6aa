"""Comparing 3 versions on a 57,000-row evaluation set (target: at most 3 s once loaded).

Usage: .venv/bin/python bench/compare_speed.py [--runs 5] [--naive-resamples 1000]

Trains 3 versions (LightGBM, LogReg, LightGBM on other data) in a scratch home under
bench/out/, loads their models once, then times ``core.compare.compare_versions`` end to
end: scoring the 57,000 rows with each version, metrics raw and weighted, PR and
calibration curves, 1,000 paired bootstrap resamples of the AUPRC differences (raw and
weighted) and the decision diff. Median of ``--runs``. Baseline, in the same run: the same
1,000 resamples (the same counts) with a naive loop of scikit-learn
``average_precision_score`` calls, one per version, weight and resample.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score

from core.auth import Actor, Role
from core.compare import compare_versions, load_evaluation
from core.compare.bootstrap import resample_counts
from core.compare.compare import clear_score_cache
from core.config import Settings
from core.data import generate_transactions
from core.registry import get_version, load_model
from core.training import train_model

OUT = Path(__file__).resolve().parent / "out" / "compare"
BENCH = Actor(name="bench", role=Role.ML_LEAD, mode="bench")
ROWS = 57_000
FRACTION = 0.1  # the evaluation set "keeps a tenth of the legitimate rows"


def naive_bootstrap(
    labels: np.ndarray,
    scores: Sequence[np.ndarray],
    *,
    baseline: int,
    legit_weight: float,
    resamples: int,
    seed: int,
) -> np.ndarray:
    """AUPRC differences vs the baseline per resample, one sklearn call per AP (slow).

    Uses core's resample counts (the same draws), so only the AP computation differs.

    Returns:
        Shape (2 weights: raw, weighted; versions; resamples).
    """
    weights = (np.ones(len(labels)), np.where(labels == 1, 1.0, legit_weight))
    out = []
    for counts in resample_counts(len(labels), resamples=resamples, seed=seed):
        for row in counts:
            per_weight = []
            for w in weights:
                aps = [average_precision_score(labels, s, sample_weight=row * w) for s in scores]
                per_weight.append([ap - aps[baseline] for ap in aps])
            out.append(per_weight)
    return np.transpose(np.array(out), (1, 2, 0))


def _setup(settings: Settings) -> list[int]:
    versions = []
    for kind, seed in (("lightgbm", 1), ("logreg", 1), ("lightgbm", 2)):
        frame = generate_transactions(60_000, fraud_rate=0.01, seed=seed)
        result = train_model(
            frame, settings=settings, model_kind=kind, data_sha256=f"bench-{seed}", actor=BENCH
        )
        versions.append(result.version)
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--naive-resamples", type=int, default=1000)
    args = parser.parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    settings = Settings(home=OUT / "home", model_name="compare-bench")
    versions = _setup(settings)
    data = OUT / "evaluation.csv"
    generate_transactions(ROWS, seed=9, start_time=200_000).to_csv(data, index=False)
    evaluation = load_evaluation(settings, path=data, sampling_fraction=FRACTION)
    for version in versions:  # "after the versions' models are loaded"
        load_model(settings, get_version(settings, version, with_metrics=False))

    cold, warm = [], []
    for _ in range(args.runs):
        clear_score_cache()  # scoring the 57,000 rows with each version included
        start = time.perf_counter()
        compare_versions(settings, evaluation, versions, resamples=1000, seed=0)
        cold.append(time.perf_counter() - start)
    for _ in range(args.runs):  # a page re-render: the versions' scores are cached
        start = time.perf_counter()
        result = compare_versions(settings, evaluation, versions, resamples=1000, seed=0)
        warm.append(time.perf_counter() - start)
    start = time.perf_counter()
    for version in versions:
        load_model(settings, get_version(settings, version)).predict_proba(evaluation.features())
    predict = time.perf_counter() - start
    scores = [v.probability for v in result.versions]
    start = time.perf_counter()
    naive_bootstrap(
        evaluation.labels,
        scores,
        baseline=0,
        legit_weight=1 / FRACTION,
        resamples=args.naive_resamples,
        seed=0,
    )
    naive = (time.perf_counter() - start) * 1000 / args.naive_resamples

    print(f"evaluation: {evaluation.rows:,} rows, {evaluation.frauds} frauds; 3 versions")
    print(f"decision diff: {len(result.decision_diff):,} rows")
    print("| path | median s | runs |")
    print("|---|---|---|")
    print(f"| compare_versions, scoring included | {statistics.median(cold):.2f} | {args.runs} |")
    print(f"| compare_versions, scores cached | {statistics.median(warm):.2f} | {args.runs} |")
    print(f"| of which: predict_proba of the 3 versions alone | {predict:.2f} | 1 |")
    print(
        f"| naive sklearn-loop bootstrap alone, per 1,000 resamples | {naive:.1f} | "
        f"1 ({args.naive_resamples} resamples) |"
    )
    print(f"naive bootstrap / compare with scores cached: {naive / statistics.median(warm):.1f}x")
    print(
        f"all runs: cold {', '.join(f'{t:.2f}' for t in cold)}; "
        f"warm {', '.join(f'{t:.2f}' for t in warm)}"
    )
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
