"""The benchmark scripts' own rules that a figure in bench/README.md depends on."""

from __future__ import annotations

import importlib.util

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
