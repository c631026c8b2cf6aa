"""Small grid over LightGBM settings, chosen by VALIDATION AUPRC on the real ULB sample.

Usage: .venv/bin/python bench/tune_lightgbm.py [--data CSV]

The test split is not looked at for the choice, ties included: rows are ranked by validation
AUPRC alone, and equal validation scores go to the simpler model (fewer leaves, then fewer
trees), never to the better test score. Test AUPRC is printed for the record only.
The chosen settings are the defaults in core/training/train.py (see bench/README.md).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import lightgbm as lgb
import numpy as np
from sklearn.metrics import average_precision_score

from core.data import load_transactions
from core.training.split import split_by_time
from core.training.train import (
    EARLY_STOPPING_METRIC,
    EARLY_STOPPING_ROUNDS,
    LIGHTGBM_PARAMS,
    _xy,
)

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "creditcard_sample.csv"
GRID = {
    "learning_rate": [0.02, 0.05],
    "num_leaves": [7, 15, 31],
    "min_child_samples": [10, 20, 50],
    "weight": ["none", "sqrt", "balanced"],
}


def rank(row: tuple) -> tuple:
    """Validation AUPRC (higher first); ties to the simpler model. Never the test score."""
    val, _test, _lr, leaves, _mcs, _weight, trees = row
    return (-val, leaves, trees)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    split = split_by_time(load_transactions(args.data, require_label=True).valid)
    (xt, yt), (xv, yv), (xs, ys) = _xy(split.train), _xy(split.validation), _xy(split.test)
    ratio = (yt == 0).sum() / yt.sum()
    results = []
    for lr, leaves, mcs, weight in itertools.product(*GRID.values()):
        spw = {"none": 1.0, "sqrt": float(np.sqrt(ratio)), "balanced": float(ratio)}[weight]
        params = {
            **LIGHTGBM_PARAMS,
            "learning_rate": lr,
            "num_leaves": leaves,
            "min_child_samples": mcs,
            "scale_pos_weight": spw,
        }
        model = lgb.LGBMClassifier(**params)
        model.fit(
            xt,
            yt,
            eval_X=xv,
            eval_y=yv,
            eval_metric=EARLY_STOPPING_METRIC,
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
        )
        val = average_precision_score(yv, model.predict_proba(xv)[:, 1])
        test = average_precision_score(ys, model.predict_proba(xs)[:, 1])
        results.append((val, test, lr, leaves, mcs, weight, model.best_iteration_))
    results.sort(key=rank)
    columns = ["val AUPRC", "test AUPRC", *GRID, "trees"]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|---|---|")
    for row in results[:8]:
        print("| {:.6f} | {:.4f} | {} | {} | {} | {} | {} |".format(*row))


if __name__ == "__main__":
    main()
