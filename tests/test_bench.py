"""The benchmark scripts' own rules that a figure in bench/README.md depends on."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import REPO


def _load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_tuning_never_breaks_a_validation_tie_with_the_test_score() -> None:
    tune = _load("tune_lightgbm")
    # rows: (val AUPRC, test AUPRC, learning_rate, leaves, min_child_samples, weight, trees)
    simpler_worse_on_test = (0.90, 0.80, 0.05, 7, 10, "sqrt", 100)
    bigger_better_on_test = (0.90, 0.99, 0.05, 31, 10, "sqrt", 100)
    better_on_validation = (0.91, 0.70, 0.05, 63, 10, "sqrt", 900)
    rows = [bigger_better_on_test, simpler_worse_on_test, better_on_validation]
    assert sorted(rows, key=tune.rank) == [
        better_on_validation,
        simpler_worse_on_test,
        bigger_better_on_test,
    ]


def test_compare_bench_naive_baseline_computes_what_core_computes() -> None:
    # the speed-up in bench/README.md is only fair if both sides compute the same intervals
    import numpy as np

    from core.compare import paired_bootstrap_differences

    bench = _load("compare_speed")
    rng = np.random.default_rng(2)
    labels = (rng.random(300) < 0.1).astype(int)
    scores = [rng.random(300) + labels * rng.random(300) for _ in range(3)]
    naive = bench.naive_bootstrap(
        labels, scores, baseline=0, legit_weight=4.0, resamples=50, seed=5
    )
    core = paired_bootstrap_differences(
        labels, scores, baseline=0, legit_weights=(1.0, 4.0), resamples=50, seed=5
    )
    for w in range(2):
        for v in (1, 2):
            low, high = np.quantile(naive[w, v], [0.025, 0.975])
            assert core[w][v].low == pytest.approx(low)
            assert core[w][v].high == pytest.approx(high)
