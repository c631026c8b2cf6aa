"""Time as a feature (issue 13): raw seconds vs dropped vs hour-of-day, over time-ordered folds.

Usage: .venv/bin/python bench/time_feature.py [--data ../shared/data/creditcard_sample.csv]
        [--synthetic-rows 150000] [--seeds 7] [--folds 5] [--resamples 1000]

Rows are sorted by ``Time`` and cut by scikit-learn's ``TimeSeriesSplit`` (expanding
window): each validation fold is later than everything its model trained on. Inside each
training window the last ``ES_SHARE`` of rows (by time) is the early-stopping slice, so
early stopping never sees the fold it is judged on. The fit is core's own
(``core.training.train._fit``: ``LIGHTGBM_PARAMS``, ``EARLY_STOPPING_ROUNDS`` on
``EARLY_STOPPING_METRIC``, ``scale_pos_weight = sqrt(negatives / positives)``), so every mode
trains exactly as ``workbench train`` would. Only the ``Time`` column differs between modes.

Decision rule, fixed before the figures were run: the default is **drop**. hour_of_day
replaces it only if, on the real sample AND on the synthetic data, its mean paired gain in
validation AUPRC over drop is larger than the standard deviation of the per-fold paired
differences and the paired bootstrap 95% interval of that gain is above 0. raw is measured
for reference only: seconds since the start of a two-day window do not exist next month.

Also printed: each fold's rows and frauds, the mean |SHAP| rank of ``Time`` (1 = most
important of the 30) on each validation fold under raw and under hour_of_day, the machine and
its load average before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score
from sklearn.model_selection import TimeSeriesSplit

from core.bootstrap import DEMO_SEED
from core.config import Settings
from core.data import generate_transactions, load_transactions
from core.models.features import apply_time_feature
from core.schema import FEATURES
from core.training.train import (
    EARLY_STOPPING_METRIC,
    EARLY_STOPPING_ROUNDS,
    LIGHTGBM_PARAMS,
    _fit,
    _xy,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "creditcard_sample.csv"
TimeMode = Literal["raw", "drop", "hour_of_day"]
MODES: tuple[TimeMode, ...] = ("raw", "drop", "hour_of_day")
ES_SHARE = 0.2
"""Share of each training window (its latest rows) held out for early stopping."""
MIN_FRAUDS = 2
TIME_INDEX = list(FEATURES).index("Time")


def apply_time_mode(x: pd.DataFrame, mode: TimeMode) -> pd.DataFrame:
    """The model's view of ``x`` under ``mode``: core's feature step
    (``core.models.features.apply_time_feature``), the one every trained version applies."""
    view = apply_time_feature(x.loc[:, list(FEATURES)].to_numpy(dtype=np.float64), mode)
    return pd.DataFrame(view, columns=list(FEATURES), index=x.index)


@dataclass
class FoldResult:
    fold: int
    train_rows: int
    es_rows: int
    es_frauds: int
    val_rows: int
    val_frauds: int
    val_hours: tuple[float, float]
    auprc: dict[str, float]
    trees: dict[str, int]
    time_rank: dict[str, int]
    y_val: np.ndarray
    proba: dict[str, np.ndarray]


def _time_rank(model, x: pd.DataFrame) -> int:
    """Rank of ``Time`` by mean |SHAP| over ``x`` (1 = largest of the 30 features)."""
    contrib = model.predict(x, pred_contrib=True)[:, : len(FEATURES)]
    importance = np.abs(contrib).mean(axis=0)
    order = np.argsort(-importance, kind="stable")
    return int(np.flatnonzero(order == TIME_INDEX)[0]) + 1


def run_folds(frame: pd.DataFrame, *, folds: int) -> list[FoldResult]:
    """Fit every mode on every expanding-window fold; return per-fold figures and scores."""
    ordered = frame.sort_values("Time", kind="stable").reset_index(drop=True)
    x_all, y_all = _xy(ordered)
    results = []
    for i, (train_idx, val_idx) in enumerate(TimeSeriesSplit(n_splits=folds).split(x_all), 1):
        first_es = round(len(train_idx) * (1 - ES_SHARE))
        fit_idx, es_idx = train_idx[:first_es], train_idx[first_es:]
        for name, idx in (("fit", fit_idx), ("early-stopping", es_idx), ("validation", val_idx)):
            if y_all[idx].sum() < MIN_FRAUDS:
                raise SystemExit(f"fold {i}: the {name} part has fewer than {MIN_FRAUDS} frauds")
        hours = ordered["Time"].to_numpy()[val_idx] / 3600.0
        result = FoldResult(
            fold=i,
            train_rows=len(fit_idx),
            es_rows=len(es_idx),
            es_frauds=int(y_all[es_idx].sum()),
            val_rows=len(val_idx),
            val_frauds=int(y_all[val_idx].sum()),
            val_hours=(float(hours.min()), float(hours.max())),
            auprc={},
            trees={},
            time_rank={},
            y_val=y_all[val_idx],
            proba={},
        )
        for mode in MODES:
            x = apply_time_mode(x_all, mode)
            model, params = _fit(
                "lightgbm", x.iloc[fit_idx], y_all[fit_idx], x.iloc[es_idx], y_all[es_idx]
            )
            x_val = x.iloc[val_idx]
            proba = model.predict_proba(x_val)[:, 1]
            result.proba[mode] = proba
            result.auprc[mode] = float(average_precision_score(result.y_val, proba))
            result.trees[mode] = params["best_iteration"]
            result.time_rank[mode] = _time_rank(model, x_val)
        results.append(result)
    return results


def paired_bootstrap(
    results: list[FoldResult], *, resamples: int, seed: int = 0
) -> dict[TimeMode, np.ndarray]:
    """Mean-over-folds validation AUPRC of every mode on ``resamples`` paired resamples.

    Every mode is scored on the same resampled rows (paired), so differences between modes
    are taken resample by resample. Frauds and legitimate rows are resampled separately
    inside each fold, so every resample keeps the fold's fraud count.
    """
    rng = np.random.default_rng(seed)
    scores = {mode: np.zeros(resamples) for mode in MODES}
    for r in results:
        pos, neg = np.flatnonzero(r.y_val == 1), np.flatnonzero(r.y_val == 0)
        for k in range(resamples):
            idx = np.concatenate([rng.choice(pos, size=len(pos)), rng.choice(neg, size=len(neg))])
            for mode in MODES:
                scores[mode][k] += average_precision_score(r.y_val[idx], r.proba[mode][idx])
    return {mode: s / len(results) for mode, s in scores.items()}


def print_report(title: str, results: list[FoldResult], *, resamples: int) -> dict[str, float]:
    """Print the per-fold table and the paired comparisons; return mean gain and fold spread."""
    print(f"\n### {title}\n")
    print(
        "| fold | fit rows | early-stop rows (frauds) | validation rows | validation frauds "
        "| validation hours | raw | drop | hour_of_day | trees raw / drop / hour "
        "| Time rank raw / hour |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.fold} | {r.train_rows:,} | {r.es_rows:,} ({r.es_frauds}) | {r.val_rows:,} "
            f"| {r.val_frauds} | {r.val_hours[0]:.1f}-{r.val_hours[1]:.1f} | "
            + " | ".join(f"{r.auprc[m]:.4f}" for m in MODES)
            + " | "
            + " / ".join(str(r.trees[m]) for m in MODES)
            + f" | {r.time_rank['raw']} / {r.time_rank['hour_of_day']} |"
        )
    table = np.array([[r.auprc[m] for m in MODES] for r in results])
    means, stds = table.mean(axis=0), table.std(axis=0, ddof=1)
    print(
        "| **mean (std over folds)** | | | | | | "
        + " | ".join(f"**{m:.4f}** ({s:.4f})" for m, s in zip(means, stds, strict=True))
        + " | | mean "
        + f"{np.mean([r.time_rank['raw'] for r in results]):.1f} / "
        + f"{np.mean([r.time_rank['hour_of_day'] for r in results]):.1f} |"
    )
    print(
        "\n| paired comparison | per-fold differences | mean | std over folds "
        "| bootstrap 95% interval of the mean |"
    )
    print("|---|---|---|---|---|")
    summary: dict[str, float] = {}
    boot = paired_bootstrap(results, resamples=resamples)
    for a, b in (("hour_of_day", "drop"), ("raw", "drop"), ("hour_of_day", "raw")):
        d = np.array([r.auprc[a] - r.auprc[b] for r in results])
        low, high = np.percentile(boot[a] - boot[b], [2.5, 97.5])
        print(
            f"| {a} - {b} | {', '.join(f'{v:+.4f}' for v in d)} | {d.mean():+.4f} "
            f"| {d.std(ddof=1):.4f} | [{low:+.4f}, {high:+.4f}] |"
        )
        if (a, b) == ("hour_of_day", "drop"):
            summary = {"gain": d.mean(), "spread": d.std(ddof=1), "low": low}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--synthetic-rows", type=int, default=Settings().demo_rows)
    parser.add_argument("--seeds", type=int, nargs="+", default=[DEMO_SEED])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument(
        "--n-jobs", type=int, default=LIGHTGBM_PARAMS["n_jobs"], help="LightGBM threads"
    )
    args = parser.parse_args()
    # core's _fit reads this dict: on a shared, loaded machine one thread wastes less time
    # in OpenMP waits than two (bench/README.md says which count each figure used).
    LIGHTGBM_PARAMS["n_jobs"] = args.n_jobs
    if not args.data.exists():
        raise SystemExit(f"{args.data} not found: the real ULB sample is not committed")
    print(
        f"Machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    print(
        f"LightGBM: {LIGHTGBM_PARAMS}, scale_pos_weight = sqrt(neg/pos) of the fit part, "
        f"early stopping {EARLY_STOPPING_ROUNDS} rounds on {EARLY_STOPPING_METRIC}, "
        f"early-stopping slice = last {ES_SHARE:.0%} of each training window"
    )
    verdicts = {}
    started = time.perf_counter()
    loaded = load_transactions(args.data, require_label=True)
    real = loaded.valid
    name = f"Real ULB sample ({len(real):,} rows, {int(real['Class'].sum())} frauds)"
    verdicts[name] = print_report(name, run_folds(real, folds=args.folds), resamples=args.resamples)
    print(f"\n({time.perf_counter() - started:.0f} s)", flush=True)
    for seed in args.seeds:
        started = time.perf_counter()
        synthetic = generate_transactions(args.synthetic_rows, seed=seed)
        name = (
            f"Synthetic, seed {seed} ({len(synthetic):,} rows, "
            f"{int(synthetic['Class'].sum())} frauds)"
        )
        verdicts[name] = print_report(
            name, run_folds(synthetic, folds=args.folds), resamples=args.resamples
        )
        print(f"\n({time.perf_counter() - started:.0f} s)", flush=True)
    print("\n### Decision\n")
    wins = []
    for name, s in verdicts.items():
        win = s["gain"] > s["spread"] and s["low"] > 0
        wins.append(win)
        print(
            f"- {name}: hour_of_day - drop = {s['gain']:+.4f}, fold spread {s['spread']:.4f}, "
            f"bootstrap low {s['low']:+.4f}: {'hour_of_day wins' if win else 'within the noise'}"
        )
    print(f"\nDefault: **{'hour_of_day' if all(wins) else 'drop'}**")
    print(f"Load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
