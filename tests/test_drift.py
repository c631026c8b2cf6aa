"""Drift maths (core.drift.stats, sketch, counts, report) on synthetic data and hand cases.

Expected values come from numpy/scipy on the raw data or from hand computations written
out here, never from core. Tolerances of the binned statistics against the exact ones (on
284,807 rows a side) are in the test names and the README's "How drift is measured".
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp, kstwobign, wasserstein_distance

from core.data import generate_transactions
from core.drift.counts import SCORE, DriftCounts, count_rows
from core.drift.report import DriftThresholds, QueueImpact, compute_drift
from core.drift.sketch import (
    ReferenceSketch,
    compute_reference_sketch,
)
from core.drift.stats import (
    LEVELS,
    BinCounts,
    ColumnSketch,
    compute_ks,
    compute_psi,
    compute_sketch,
    compute_wasserstein,
    count_bins,
    ks_pvalue,
)
from core.schema import FEATURES

ULB_ROWS = 284_807


def _matrix(frame: pd.DataFrame) -> np.ndarray:
    return frame.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)


@pytest.fixture(scope="module")
def reference_frame() -> pd.DataFrame:
    return generate_transactions(100_000, seed=11)


@pytest.fixture(scope="module")
def reference(reference_frame: pd.DataFrame) -> ReferenceSketch:
    return compute_reference_sketch(reference_frame, scores=None, source="training")


def _report(sketch: ReferenceSketch, frame: pd.DataFrame, **options: object):
    counts = count_rows(sketch, _matrix(frame), None)
    return compute_drift(sketch, counts, model_name="m", version=1, **options)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- verdicts


def test_exactly_the_two_shifted_features_are_flagged(reference: ReferenceSketch) -> None:
    current = generate_transactions(100_000, seed=12, drift={"V14": 1.5, "V4": 1.5})
    report = _report(reference, current)
    assert report.verdict == "drift" and report.drift_found
    assert sorted(report.flagged) == ["V14", "V4"]
    bands = {c.name: c.band for c in report.columns}
    assert {n for n, b in bands.items() if b != "ok"} == {"V14", "V4"}
    assert report.drift_share == pytest.approx(2 / 29)  # Time left out
    assert report.columns[0].name in ("V14", "V4")  # alerts sort first
    assert report.warnings == ()


def test_data_from_the_reference_distribution_flags_nothing(reference: ReferenceSketch) -> None:
    report = _report(reference, generate_transactions(100_000, seed=13))
    assert report.verdict == "no drift" and not report.drift_found
    assert report.flagged == [] and report.drift_share == 0.0
    assert {c.band for c in report.columns} == {"ok"}
    assert max(c.psi for c in report.columns) < 0.01  # type: ignore[type-var]


def test_time_is_excluded_by_default_and_judged_when_asked(
    reference: ReferenceSketch,
) -> None:
    later = generate_transactions(20_000, seed=14, start_time=10 * 86_400.0)
    default = _report(reference, later)
    assert "Time" not in [c.name for c in default.columns] and len(default.columns) == 29
    with_time = _report(reference, later, thresholds=DriftThresholds(excluded=()))
    assert with_time.flagged == ["Time"]  # every value after the reference's window


def test_a_window_under_min_rows_is_not_judged(reference: ReferenceSketch) -> None:
    report = _report(reference, generate_transactions(999, seed=15, drift={"V14": 3.0}))
    assert report.verdict == "not judged" and report.drift_share is None
    assert not report.drift_found and report.flagged == []
    assert "999 rows: under the minimum of 1,000" in report.warnings[0]
    assert {c.band for c in report.columns} == {"not judged"}
    # one more row and it is judged
    report = _report(reference, generate_transactions(1000, seed=15, drift={"V14": 3.0}))
    assert report.verdict == "drift" and "V14" in report.flagged


def test_a_constant_reference_column_is_not_judged_a_collapsed_current_one_is_drift(
    reference_frame: pd.DataFrame,
) -> None:
    """A feature that collapses to one value in production (a pipeline filling 0) is the
    drift a monitor must catch: judged, flagged, with a note."""
    frame = reference_frame.copy()
    frame["V1"] = 0.0
    sketch = compute_reference_sketch(frame, scores=None, source="training")
    current = generate_transactions(5000, seed=16)
    current["V2"] = 0.5
    report = _report(sketch, current)
    notes = {c.name: (c.band, c.note) for c in report.columns}
    assert notes["V1"] == ("not judged", "constant in the reference")
    assert notes["V2"] == ("alert", "constant in the current data")
    assert notes["V3"] == ("ok", None)
    assert "V1: constant in the reference; not judged" in report.warnings
    assert "V2: constant in the current data" in report.warnings
    assert report.verdict == "drift" and report.flagged == ["V2"]


def test_nan_and_inf_count_as_missing_and_the_column_is_not_judged(
    reference: ReferenceSketch,
) -> None:
    current = generate_transactions(5000, seed=17)
    current.loc[:9, "V3"] = np.nan
    current.loc[10:11, "V3"] = np.inf
    current.loc[12, "V3"] = -np.inf
    counts = count_rows(reference, _matrix(current), None)
    assert counts.columns["V3"].missing == 13 and counts.columns["V3"].rows == 4987
    assert counts.rows == 5000
    report = compute_drift(reference, counts, model_name="m", version=1)
    [v3] = [c for c in report.columns if c.name == "V3"]
    assert (v3.band, v3.note) == ("not judged", "13 values are NaN or infinite")
    assert "V3: 13 values are NaN or infinite; not judged" in report.warnings


def test_a_feature_missing_from_the_reference_is_not_judged(
    reference: ReferenceSketch,
) -> None:
    columns = {k: v for k, v in reference.columns.items() if k != "V5"}
    partial = ReferenceSketch(columns=columns, score=None, source="test split")
    report = _report(partial, generate_transactions(5000, seed=18, drift={"V5": 3.0}))
    [v5] = [c for c in report.columns if c.name == "V5"]
    assert (v5.band, v5.note, v5.psi) == ("not judged", "missing from the reference", None)
    assert "V5: missing from the reference; not judged" in report.warnings
    assert report.verdict == "no drift" and report.reference == "test split"
    # counts without a column the sketch has (stored before it was counted): not judged
    counts = count_rows(reference, _matrix(generate_transactions(5000, seed=18)), None)
    del counts.columns["V6"]
    report = compute_drift(reference, counts, model_name="m", version=1)
    assert [c.band for c in report.columns if c.name == "V6"] == ["not judged"]


def test_counts_on_another_sketch_are_refused(reference: ReferenceSketch) -> None:
    counts = count_rows(reference, _matrix(generate_transactions(10, seed=1)), None)
    counts = DriftCounts(sketch_id="0" * 16, columns=counts.columns)
    with pytest.raises(ValueError, match="another sketch"):
        compute_drift(reference, counts, model_name="m", version=1)


# --------------------------------------------------------------------------- hand cases

FOUR = np.array([0.0, 1.0, 2.0, 3.0])


def test_values_outside_the_reference_range_count_psi_outside_share_and_tail_sums() -> None:
    sketch = compute_sketch(FOUR, levels=LEVELS)
    assert sketch.edges.tolist() == [0, 1, 2, 3] and sketch.cdf.tolist() == [0.25, 0.5, 0.75, 1]
    current = count_bins(np.array([5.0, 7.0]), sketch.edges)
    assert current.counts.tolist() == [0, 0, 0, 0, 2] and current.above == 6.0
    assert current.below == 0.0
    # KS: the current CDF is 0 at every edge, the reference's reaches 1 at edge 3
    assert compute_ks(sketch, current) == 1.0
    # Wasserstein by hand: the reference CDF spread linearly in each bin (trapezoids
    # .375 + .625 + .875) plus the tail sums: mean(x - 3) = 3; over the reference SD
    std = np.sqrt(np.mean((FOUR - 1.5) ** 2))
    assert compute_wasserstein(sketch, current) == pytest.approx((1.875 + 3.0) / std, abs=1e-12)
    # moving the values 10 further adds exactly 10 / SD
    further = count_bins(np.array([15.0, 17.0]), sketch.edges)
    assert compute_wasserstein(sketch, further) - compute_wasserstein(
        sketch, current
    ) == pytest.approx(10 / std, abs=1e-12)
    # and below the first edge too, from the lower tail sum
    low = count_bins(np.array([-2.0, -4.0]), sketch.edges)
    assert low.below == 6.0 and low.counts.tolist() == [2, 0, 0, 0, 0]
    # trapezoids of 1 - cdf between the edges: .625 + .375 + .125 = 1.125 (bin 0 holds
    # the reference's 0 too: the gap at edge 0 is 1 - .25)
    assert compute_wasserstein(sketch, low) == pytest.approx((1.125 + 3.0) / std, abs=1e-12)


def test_values_near_the_float_limit_keep_the_tail_sums_and_distance_finite() -> None:
    # any finite float is a valid value; two near 1.8e308 would sum to infinity
    sketch = compute_sketch(FOUR, levels=LEVELS)  # edges 0..3
    huge = count_bins(np.array([1e308, 1.5e308, -1e308, -1.7e308]), sketch.edges)
    assert huge.counts.tolist() == [2, 0, 0, 0, 2]
    assert huge.above == 2e100 and huge.below == 2e100  # each counted 1e100 beyond
    assert np.isfinite(compute_wasserstein(sketch, huge))
    # an ordinary value beside them still counts its own distance
    mixed = count_bins(np.array([-1e308, 5.0]), sketch.edges)
    assert mixed.below == 1e100 and mixed.above == 2.0


def test_a_current_set_entirely_above_the_reference_has_high_psi_and_outside_one() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=50_000)
    sketch = compute_sketch(values, levels=LEVELS)
    shift = values.max() + 1.0
    current_values = rng.normal(size=5_000) ** 2 + shift
    reference = ReferenceSketch(columns={"V1": sketch}, score=None, source="training")
    counts = DriftCounts(
        sketch_id=reference.sketch_id, columns={"V1": count_bins(current_values, sketch.edges)}
    )
    report = compute_drift(reference, counts, model_name="m", version=1)
    [v1] = [c for c in report.columns if c.name == "V1"]
    # hand PSI: nine deciles empty (floor 1e-4 against .1), the last holds everything
    hand = 9 * (1e-4 - 0.1) * np.log(1e-4 / 0.1) + (1 - 0.1) * np.log(1 / 0.1)
    assert v1.psi == pytest.approx(hand, abs=1e-9) and v1.band == "alert"
    assert v1.outside == 1.0 and v1.ks == 1.0
    # every current value above every reference one: exact W1 is the difference of means
    exact = (current_values.mean() - values.mean()) / values.std()
    assert v1.wasserstein == pytest.approx(exact, rel=1e-3)


def test_psi_against_a_hand_computation() -> None:
    # ten values 0..9: each a decile of its own; the last group is (8, +inf)
    sketch = compute_sketch(np.arange(10.0), levels=LEVELS)
    current = count_bins(np.array([0.0, 0, 1, 2, 3, 4, 5, 6, 7, 8]), sketch.edges)
    hand = (0.2 - 0.1) * np.log(0.2 / 0.1) + (1e-4 - 0.1) * np.log(1e-4 / 0.1)
    assert compute_psi(sketch, current) == pytest.approx(hand, abs=1e-12)
    # a value far above the range belongs to the last decile: the shares are even again
    even = count_bins(np.array([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 100]), sketch.edges)
    assert compute_psi(sketch, even) == pytest.approx(0.0, abs=1e-12)
    # and one far below to the first
    even = count_bins(np.array([-50.0, 1, 2, 3, 4, 5, 6, 7, 8, 9]), sketch.edges)
    assert compute_psi(sketch, even) == pytest.approx(0.0, abs=1e-12)
    # empty current data: every share floored, no division by zero
    empty = count_bins(np.array([]), sketch.edges)
    assert compute_psi(sketch, empty) == pytest.approx(10 * (1e-4 - 0.1) * np.log(1e-3))


def test_ks_against_a_hand_case() -> None:
    sketch = compute_sketch(FOUR, levels=LEVELS)
    current = count_bins(np.array([0.0, 0.0, 1.0, 3.0]), sketch.edges)
    assert current.counts.tolist() == [2, 1, 0, 1, 0]
    # CDFs at 0, 1, 2, 3: .25/.5, .5/.75, .75/.75, 1/1
    assert compute_ks(sketch, current) == 0.25
    assert compute_ks(sketch, current) == ks_2samp(FOUR, [0.0, 0.0, 1.0, 3.0]).statistic
    below = count_bins(np.array([-1.0, -1.0, -1.0, 0.5]), sketch.edges)
    assert compute_ks(sketch, below) == 0.5  # .75 against .25 at edge 0


def test_a_constant_reference_has_no_wasserstein() -> None:
    sketch = compute_sketch(np.full(100, 2.0), levels=LEVELS)
    assert sketch.constant and sketch.edges.tolist() == [2.0]
    assert np.isnan(compute_wasserstein(sketch, count_bins(np.array([1.0, 3.0]), sketch.edges)))


def test_compute_sketch_leaves_non_finite_values_out_and_refuses_none() -> None:
    sketch = compute_sketch(np.array([np.nan, 1.0, np.inf, 2.0, -np.inf]), levels=LEVELS)
    assert sketch.edges.tolist() == [1.0, 2.0] and sketch.rows == 2
    assert (sketch.mean, sketch.std) == (1.5, 0.5)
    with pytest.raises(ValueError, match=r"^no finite value to sketch$"):
        compute_sketch(np.array([np.nan]), levels=LEVELS)


# --------------------------------------------------------------------------- counts


def test_counts_add_and_round_trip_through_json(reference: ReferenceSketch) -> None:
    frame = generate_transactions(3000, seed=19)
    x = _matrix(frame)
    for row in (5, 2500):  # in both halves, so the sums must add
        x[row, FEATURES.index("V7")] = np.nan
        x[row + 2, FEATURES.index("Amount")] = 1e9  # above the reference's range
        x[row + 3, FEATURES.index("V9")] = -1e3  # below it
    whole = count_rows(reference, x, None)
    parts = count_rows(reference, x[:1000], None) + count_rows(reference, x[1000:], None)
    assert parts.sketch_id == whole.sketch_id and parts.rows == whole.rows == 3000
    for name in whole.columns:
        a, b = whole.columns[name], parts.columns[name]
        np.testing.assert_array_equal(a.counts, b.counts)
        assert (a.missing, a.below, a.above) == pytest.approx((b.missing, b.below, b.above))
    assert whole.columns["V7"].missing == 2 and whole.columns["V9"].below > 2e3 - 100
    assert whole.columns["Amount"].above >= 1e9 - reference.columns["Amount"].edges[-1]
    # dense: many bins filled
    dense = whole.to_json()
    assert isinstance(json.loads(dense)["columns"]["V1"]["counts"], list)
    back = DriftCounts.from_json(dense)
    _assert_same_counts(back, whole)
    # sparse: one row fills one bin per column
    one = count_rows(reference, x[:1], None)
    sparse = one.to_json()
    assert isinstance(json.loads(sparse)["columns"]["V1"]["counts"], dict)
    _assert_same_counts(DriftCounts.from_json(sparse), one)
    assert len(sparse) < 2500
    # different sketches or bins do not add
    with pytest.raises(ValueError, match="different sketches"):
        one + DriftCounts(sketch_id="x", columns=one.columns)
    with pytest.raises(ValueError, match=r"^counts on different bins cannot be added$"):
        BinCounts(counts=np.zeros(3, dtype=np.int64)) + BinCounts(counts=np.zeros(4))


def _assert_same_counts(a: DriftCounts, b: DriftCounts) -> None:
    assert a.sketch_id == b.sketch_id and a.columns.keys() == b.columns.keys()
    for name in a.columns:
        x, y = a.columns[name], b.columns[name]
        np.testing.assert_array_equal(x.counts, y.counts)
        assert x.counts.dtype == np.int64
        assert (x.below, x.above, x.missing) == (y.below, y.above, y.missing)


def test_scores_are_counted_only_where_the_sketch_has_them(reference_frame: pd.DataFrame) -> None:
    scores = np.random.default_rng(3).beta(0.5, 30, len(reference_frame))
    with_score = compute_reference_sketch(reference_frame, scores=scores, source="training")
    x = _matrix(reference_frame.head(100))
    assert SCORE in count_rows(with_score, x, scores[:100]).columns
    assert SCORE not in count_rows(with_score, x, None).columns
    without = compute_reference_sketch(reference_frame, scores=None, source="training")
    assert SCORE not in count_rows(without, x, scores[:100]).columns
    assert with_score.sketch_id != without.sketch_id
    assert ReferenceSketch.from_json(with_score.to_json()).sketch_id == with_score.sketch_id


# --------------------------------------------------------------------------- score sketch


def test_alert_rate_at_is_exact_at_the_threshold_and_within_1e_3_in_the_top_1pct() -> None:
    rng = np.random.default_rng(21)
    scores = rng.beta(0.3, 40, 200_000)
    frame = generate_transactions(1000, seed=22)
    threshold = float(np.quantile(scores, 0.997))
    sketch = compute_reference_sketch(frame, scores=scores, source="training", threshold=threshold)
    assert sketch.alert_rate == np.mean(scores >= threshold)
    assert sketch.alert_rate_at(threshold) == np.mean(scores >= threshold)
    stored = ReferenceSketch.from_json(sketch.to_json())
    assert stored.alert_rate_at(threshold) == np.mean(scores >= threshold)
    for level in np.linspace(0.99, 0.9999, 23):
        t = float(np.quantile(scores, level)) * 1.0001
        assert abs(sketch.alert_rate_at(t) - np.mean(scores >= t)) < 1e-3, level
    # at an edge itself: the edge's own mass counts as at or above it, and so does the
    # bin below it (the sketch cannot tell a tie at the edge from values just under it)
    edges, cdf = sketch.score.edges, sketch.score.cdf  # type: ignore[union-attr]
    for i in (-2, -5, -12):  # edges in the top 1% (bins under 1e-3 wide)
        true = np.mean(scores >= edges[i])
        assert 1 - cdf[i] - 1e-12 <= true <= 1 - cdf[i - 1] + 1e-12
        assert sketch.alert_rate_at(float(edges[i])) == pytest.approx(1 - cdf[i - 1], abs=1e-15)
        assert abs(sketch.alert_rate_at(float(edges[i])) - true) < 1e-3
    assert sketch.alert_rate_at(float(scores.max()) + 1) == 0.0
    assert sketch.alert_rate_at(float(scores.min())) == 1.0
    assert sketch.alert_rate_at(-1.0) == 1.0
    without = compute_reference_sketch(frame, scores=None, source="training")
    assert without.alert_rate_at(0.5) is None


def test_weighted_sketches_agree_with_quantiles_of_repeated_legit_rows() -> None:
    """sampling_fraction 0.25: a legitimate row stands for 4; quantiles as if repeated."""
    rng = np.random.default_rng(23)
    frame = generate_transactions(20_000, seed=24, fraud_rate=0.05)
    labels = frame["Class"].to_numpy()
    scores = np.where(labels == 1, rng.beta(5, 2, len(frame)), rng.beta(1, 30, len(frame)))
    fraction, threshold = 0.25, 0.4
    sketch = compute_reference_sketch(
        frame,
        scores=scores,
        source="training",
        feature_labels=labels,
        score_labels=labels,
        sampling_fraction=fraction,
        threshold=threshold,
    )
    repeat = np.where(labels == 1, 1, 4)
    for name in ("V14", "Amount", "V4"):
        expanded = np.repeat(frame[name].to_numpy(), repeat)
        _check_column(sketch.columns[name], expanded)
    expanded_scores = np.repeat(scores, repeat)
    _check_column(sketch.score, expanded_scores)  # type: ignore[arg-type]
    assert sketch.alert_rate == pytest.approx(np.mean(expanded_scores >= threshold), abs=1e-12)
    # unweighted would be visibly different: frauds are 5% here, 1.3% repeated
    assert np.mean(scores >= threshold) > 2 * sketch.alert_rate  # type: ignore[operator]


def inverted_cdf(values: np.ndarray) -> np.ndarray:
    """The distinct inverted-CDF quantiles at LEVELS. The levels are nudged down by 1e-12
    (relative): n * 0.2 computed in floating point can land a hair above the integer and
    numpy then takes the next value, where the share reaching 0.2 exactly qualifies."""
    return np.unique(np.quantile(values, LEVELS * (1 - 1e-12), method="inverted_cdf"))


def _check_column(column: ColumnSketch, expanded: np.ndarray) -> None:
    quantiles = inverted_cdf(expanded)
    np.testing.assert_array_equal(column.edges, quantiles)
    cdf = np.searchsorted(np.sort(expanded), column.edges, side="right") / len(expanded)
    np.testing.assert_allclose(column.cdf, cdf, rtol=0, atol=1e-12)
    assert column.mean == pytest.approx(expanded.mean(), rel=1e-12)
    assert column.std == pytest.approx(expanded.std(), rel=1e-9)


# --------------------------------------------------------------------------- binned vs exact


def _amount_like(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    values = np.round(np.exp(rng.normal(3.0 + shift, 1.4, n)), 2)
    values[rng.random(n) < 0.12] = 0.0  # ties at 0 across the first decile
    return values


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(31)
    n = ULB_ROWS
    normal = rng.normal(size=n)
    return {
        "normal": (normal, rng.normal(size=n)),
        "shifted normal": (normal, rng.normal(0.3, 1.0, n)),
        "scaled normal": (normal, rng.normal(0.0, 1.5, n)),
        "amount": (_amount_like(rng, n), _amount_like(rng, n)),
        "shifted amount": (_amount_like(rng, n), _amount_like(rng, n, shift=0.5)),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_binned_ks_within_0_005_of_scipy(case: str) -> None:
    reference, current = CASES[case]
    sketch = compute_sketch(reference, levels=LEVELS)
    binned = compute_ks(sketch, count_bins(current, sketch.edges))
    exact = ks_2samp(reference, current).statistic
    assert binned <= exact + 1e-12  # a lower bound
    assert abs(binned - exact) <= 0.005, (binned, exact)


@pytest.mark.parametrize("case", list(CASES))
def test_binned_wasserstein_within_3pct_plus_0_005_of_scipy(case: str) -> None:
    reference, current = CASES[case]
    sketch = compute_sketch(reference, levels=LEVELS)
    binned = compute_wasserstein(sketch, count_bins(current, sketch.edges))
    exact = wasserstein_distance(reference, current) / reference.std()
    assert abs(binned - exact) <= 0.03 * exact + 0.005, (binned, exact)


@pytest.mark.parametrize("case", list(CASES))
def test_sketch_psi_within_0_005_of_psi_from_the_raw_reference(case: str) -> None:
    reference, current = CASES[case]
    sketch = compute_sketch(reference, levels=LEVELS)
    binned = compute_psi(sketch, count_bins(current, sketch.edges))
    # deciles of the raw data, groups (-inf, q1], (q1, q2], ..., (q9, +inf)
    edges = np.unique(np.quantile(reference, np.arange(1, 10) / 10, method="inverted_cdf"))
    p = np.bincount(np.searchsorted(edges, reference), minlength=len(edges) + 1) / len(reference)
    q = np.bincount(np.searchsorted(edges, current), minlength=len(edges) + 1) / len(current)
    p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    exact = float(np.sum((q - p) * np.log(q / p)))
    assert abs(binned - exact) <= 0.005, (binned, exact)


# --------------------------------------------------------------------------- queue, summary


def test_queue_impact_per_day_and_per_10k_transactions() -> None:
    per_day = QueueImpact(threshold=0.5, rows=20_000, alerts=138, reference_rate=0.005, days=2.0)
    assert per_day.current_rate == 138 / 20_000
    assert per_day.change == pytest.approx(138 / 20_000 / 0.005 - 1)  # +38%
    assert per_day.sentence() == (
        "+38% alerts per day: 69.0 against 50.0 expected at the reference's alert rate "
        "(138 alerts in 20,000 rows, 100.0 expected; 0.690% now, 0.500% in the reference, "
        "threshold 0.5)"
    )
    per_10k = QueueImpact(threshold=0.25, rows=4000, alerts=2, reference_rate=0.001, days=None)
    assert per_10k.sentence() == (
        "-50% alerts per 10,000 transactions: 5.0 against 10.0 expected at the reference's "
        "alert rate (2 alerts in 4,000 rows, 4.0 expected; 0.050% now, 0.100% in the "
        "reference, threshold 0.25)"
    )
    none = QueueImpact(threshold=0.9, rows=0, alerts=0, reference_rate=0.0, days=None)
    assert none.current_rate == 0.0 and none.change is None
    assert none.sentence().startswith("alerts per 10,000 transactions: 0.0 against 0.0")
    assert none.summary()["change"] is None and per_day.summary()["alerts"] == 138


def test_a_report_with_scores_has_score_drift_queue_impact_and_a_json_summary(
    reference_frame: pd.DataFrame,
) -> None:
    rng = np.random.default_rng(41)
    scores = rng.beta(0.5, 30, len(reference_frame))
    threshold = float(np.quantile(scores, 0.99))
    sketch = compute_reference_sketch(
        reference_frame, scores=scores, source="training", threshold=threshold
    )
    current = generate_transactions(10_000, seed=42, drift={"V14": 2.0})
    current_scores = rng.beta(0.5, 5, len(current))  # six times the mean: more alerts
    counts = count_rows(sketch, _matrix(current), current_scores)
    alerts = int(np.count_nonzero(current_scores >= threshold))
    report = compute_drift(
        sketch,
        counts,
        model_name="fraud",
        version=3,
        threshold=threshold,
        alerts=alerts,
        days=1.0,
        current="week.csv",
    )
    assert report.score is not None and report.score.band == "alert"
    assert report.queue is not None and report.queue.reference_rate == np.mean(scores >= threshold)
    assert report.queue.alerts == alerts and report.queue.rows == 10_000
    summary = json.loads(json.dumps(report.summary()))
    assert summary["verdict"] == "drift" and summary["drift_found"] is True
    assert summary["flagged"] == ["V14"] and summary["current"] == "week.csv"
    assert summary["thresholds"] == {
        "psi_warn": 0.1,
        "psi_alert": 0.25,
        "min_rows": 1000,
        "excluded": ["Time"],
    }
    [v14] = [f for f in summary["features"] if f["name"] == "V14"]
    assert v14["band"] == "alert" and v14["rows"] == 10_000
    assert v14["psi"] == round(report.columns[0].psi, 6)  # type: ignore[arg-type]
    assert v14["ks"] == pytest.approx(
        ks_2samp(reference_frame["V14"], current["V14"]).statistic, abs=0.005
    )
    assert summary["score"]["name"] == "score" and summary["queue"]["alerts"] == alerts
    assert len(summary["features"]) == 29 and summary["warnings"] == []
    # no alerts given: no queue impact; no threshold at all: none either
    assert (
        compute_drift(sketch, counts, model_name="f", version=3, threshold=threshold).queue is None
    )
    # a constant reference's Wasserstein is NaN in the report, None in the summary
    frame = reference_frame.copy()
    frame["V1"] = 1.0
    flat = compute_reference_sketch(frame, scores=None, source="training")
    flat_report = _report(flat, current)
    [v1] = [f for f in flat_report.summary()["features"] if f["name"] == "V1"]
    assert v1["wasserstein_sd"] is None and v1["note"] == "constant in the reference"


def test_wasserstein_where_the_cdfs_cross_inside_a_bin_by_hand() -> None:
    sketch = compute_sketch(FOUR, levels=LEVELS)
    current = count_bins(np.array([1.0, 1.0, 1.0, 3.0]), sketch.edges)
    # gap (current - reference CDF) at 0, 1, 2, 3: -.25, .25, 0, 0; linear inside a bin,
    # it crosses zero mid-way through (0, 1]: two triangles of .25 x .5 / 2, then a
    # triangle of .25 x 1 / 2 over (1, 2]
    std = np.sqrt(np.mean((FOUR - 1.5) ** 2))
    assert compute_wasserstein(sketch, current) == pytest.approx(0.25 / std, abs=1e-12)
    # all at 1: gaps -.25, .5, .25, 0: (.0625 + .25) / (2 x .75) = 5/24 over (0, 1],
    # trapezoids 9/24 and 3/24 after it
    ones = count_bins(np.ones(4), sketch.edges)
    assert compute_wasserstein(sketch, ones) == pytest.approx(17 / 24 / std, abs=1e-12)


def test_bands_at_their_thresholds_and_the_column_fields(reference: ReferenceSketch) -> None:
    current = generate_transactions(5000, seed=43, drift={"V14": 0.4})
    counts = count_rows(reference, _matrix(current), None)
    psi = _report(reference, current).columns[0].psi
    assert _report(reference, current).columns[0].name == "V14"
    at_alert = compute_drift(
        reference, counts, model_name="m", version=1, thresholds=DriftThresholds(psi_alert=psi)
    )
    assert at_alert.flagged == ["V14"]  # PSI equal to the alert threshold alerts
    at_warn = compute_drift(
        reference,
        counts,
        model_name="m",
        version=1,
        thresholds=DriftThresholds(psi_warn=psi, psi_alert=psi + 1e-9),
    )
    assert [c.band for c in at_warn.columns[:2]] == ["warn", "ok"]
    [v14] = [c for c in at_warn.columns if c.name == "V14"]
    sketch = reference.columns["V14"]
    np.testing.assert_array_equal(v14.edges, sketch.edges)
    np.testing.assert_allclose(v14.reference_share, np.diff([0, *sketch.cdf, 1]), atol=1e-15)
    bins = np.searchsorted(sketch.edges, current["V14"].to_numpy(), side="left")
    expected = np.bincount(bins, minlength=len(sketch.edges) + 1) / 5000
    np.testing.assert_allclose(v14.current_share, expected, rtol=0, atol=0)
    assert v14.rows == 5000 and v14.outside == expected[0] + expected[-1]
    n = sketch.rows * 5000 / (sketch.rows + 5000)
    assert v14.ks_pvalue == pytest.approx(kstwobign.sf(np.sqrt(n) * v14.ks), rel=1e-12)


def test_columns_with_no_rows_one_row_or_one_inner_bin(reference: ReferenceSketch) -> None:
    current = generate_transactions(3000, seed=44)
    current["V3"] = np.nan  # no finite value at all
    edges = reference.columns["V5"].edges
    current["V5"] = (edges[0] + edges[1]) / 2  # all inside the first inner bin
    current["V6"] = (reference.columns["V6"].edges[-2] + reference.columns["V6"].edges[-1]) / 2
    current["V8"] = reference.columns["V8"].edges[0] - 5  # all below the range
    report = _report(reference, current)
    by_name = {c.name: c for c in report.columns}
    v3 = by_name["V3"]
    assert (v3.rows, v3.psi, v3.ks, v3.ks_pvalue, v3.wasserstein, v3.outside) == (
        0,
        None,
        None,
        None,
        None,
        None,
    )
    assert v3.current_share.tolist() == [0.0] * (len(reference.columns["V3"].edges) + 1)
    assert v3.note == "3,000 values are NaN or infinite"
    assert by_name["V5"].note == by_name["V6"].note == "constant in the current data"
    v8 = by_name["V8"]
    assert v8.outside == 1.0 and v8.band == "alert" and v8.note is None
    # collapsed into one bin (V5, V6) or below the range (V8): all three are drift
    assert by_name["V5"].band == by_name["V6"].band == "alert"
    assert sorted(report.flagged) == ["V5", "V6", "V8"]
    assert report.drift_share == 3 / 28  # 29 less V3, not judged
    # one row in one inner bin: too few rows, not "constant"
    one = _report(reference, generate_transactions(1, seed=45, fraud_rate=0.0))
    assert {c.note for c in one.columns} == {"1 rows: under the minimum of 1,000"}


def test_ks_pvalue_is_the_asymptotic_two_sample_one() -> None:
    # n = 100 * 400 / 500 = 80 effective rows
    assert ks_pvalue(0.1, 100, 400) == pytest.approx(kstwobign.sf(np.sqrt(80) * 0.1), rel=1e-12)
    assert ks_pvalue(0.3, 1, 1) == pytest.approx(kstwobign.sf(np.sqrt(0.5) * 0.3), rel=1e-12)
    assert np.isnan(ks_pvalue(0.1, 0, 400)) and np.isnan(ks_pvalue(0.1, 100, 0))
    assert ks_pvalue(0.0, 100, 400) == 1.0


def test_a_tie_at_the_reference_maximum_closes_the_last_psi_group() -> None:
    # 20% of the reference at its maximum 8: the last decile is (7, +inf), the values
    # above 8 belong to it, so two 9s stand in for the two 8s and nothing drifts
    sketch = compute_sketch(np.array([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 8]), levels=LEVELS)
    current = count_bins(np.array([0.0, 1, 2, 3, 4, 5, 6, 7, 9, 9]), sketch.edges)
    assert current.counts.dtype == np.int64
    assert compute_psi(sketch, current) == pytest.approx(0.0, abs=1e-12)


def test_no_judged_feature_and_notes_at_exactly_min_rows(reference: ReferenceSketch) -> None:
    current = generate_transactions(1000, seed=46)
    for name in FEATURES:
        current[name] = np.nan
    report = _report(reference, current)
    assert report.verdict == "not judged" and report.drift_share is None
    assert report.warnings[0] == "no feature could be judged"
    assert "V1: 1,000 values are NaN or infinite; not judged" in report.warnings
    small = _report(reference, generate_transactions(10, seed=47))
    assert small.warnings == (
        "10 rows: under the minimum of 1,000 for a verdict (PSI grows with small samples)",
    )


def test_the_json_summary_names_every_field_and_the_table_is_ordered_by_band_then_psi(
    reference: ReferenceSketch,
) -> None:
    """The summary is what `workbench drift --json` prints for schedulers: its field names
    are an interface. The table: alert, warn, ok, not judged; within a band, PSI down."""
    current = generate_transactions(3000, seed=47, drift={"V14": 2.0, "V4": 0.8, "V10": 0.4})
    current["V3"] = np.nan
    report = _report(
        reference, current, threshold=0.5, alerts=30, days=3.0, current="three days.csv"
    )
    summary = report.summary()
    assert set(summary) == {
        "model_name", "version", "reference", "current", "rows", "verdict", "drift_found",
        "drift_share", "flagged", "thresholds", "features", "score", "queue", "warnings",
    }  # fmt: skip
    assert (summary["model_name"], summary["version"], summary["reference"]) == (
        "m",
        1,
        "training",
    )
    assert (summary["current"], summary["rows"]) == ("three days.csv", 3000)
    assert summary["drift_share"] == pytest.approx(len(report.flagged) / 28)  # V3 not judged
    v14 = next(f for f in summary["features"] if f["name"] == "V14")
    assert set(v14) == {
        "name", "band", "psi", "ks", "ks_pvalue", "wasserstein_sd", "rows",
        "outside_reference_range", "note",
    }  # fmt: skip
    column = next(c for c in report.columns if c.name == "V14")
    assert v14["ks_pvalue"] == round(column.ks_pvalue, 6)  # type: ignore[arg-type]
    assert v14["wasserstein_sd"] == round(column.wasserstein, 6)  # type: ignore[arg-type]
    assert v14["outside_reference_range"] == round(column.outside, 6)  # type: ignore[arg-type]
    assert summary["queue"] is None  # no score sketch: no reference alert rate
    queue = QueueImpact(threshold=0.5, rows=3000, alerts=30, reference_rate=0.004, days=3.0)
    assert queue.summary() == {
        "threshold": 0.5,
        "rows": 3000,
        "alerts": 30,
        "current_rate": 0.01,
        "reference_rate": 0.004,
        "change": pytest.approx(1.5),
        "days": 3.0,
        "sentence": queue.sentence(),
    }
    rank = {"alert": 0, "warn": 1, "ok": 2, "not judged": 3}
    keys = [(rank[c.band], -(c.psi or 0.0)) for c in report.columns]
    assert keys == sorted(keys)
    assert [c.band for c in report.columns][:1] == ["alert"] and report.columns[-1].name == "V3"
    assert len({c.band for c in report.columns}) >= 3  # the order was really tested
