"""Training on tiny real data: time split, threshold on validation, metrics on test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import InputError
from core.training.metrics import choose_threshold, compute_metrics
from core.training.split import split_by_time
from core.training.train import file_sha256


def test_split_is_by_time_without_overlap(tiny_frame: pd.DataFrame) -> None:
    split = split_by_time(tiny_frame.sample(frac=1.0, random_state=0))
    assert split.train["Time"].max() <= split.validation["Time"].min()
    assert split.validation["Time"].max() <= split.test["Time"].min()
    assert sum(split.sizes().values()) == len(tiny_frame)
    assert split.sizes() == {"train": 12_000, "validation": 4_000, "test": 4_000}


def test_split_refuses_too_few_frauds(tiny_frame: pd.DataFrame) -> None:
    legit_only_late = tiny_frame.copy()
    legit_only_late.loc[legit_only_late.index[-4000:], "Class"] = 0
    with pytest.raises(InputError, match=r"the test split .* has 0 frauds"):
        split_by_time(legit_only_late)


def test_threshold_maximises_f1_on_a_hand_built_case() -> None:
    y = np.array([0, 0, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.8, 0.9])
    # cutting at 0.4 catches all three frauds with one false alarm: F1 = 6/7, the best.
    assert choose_threshold(y, p) == pytest.approx(0.4)


def test_metrics_on_a_hand_built_case() -> None:
    y = np.array([1, 0, 1, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05])
    m = compute_metrics(y, p, threshold=0.75, k=2)
    assert (m.precision, m.recall, m.precision_at_k) == (0.5, 0.5, 0.5)
    assert m.f1 == pytest.approx(0.5)
    assert m.auprc == pytest.approx((1 + 2 / 3) / 2)
    assert m.roc_auc == pytest.approx(7 / 8)
    assert m.brier == pytest.approx(np.mean((p - y) ** 2))


def test_file_hash_is_sha256(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
