"""Training on tiny real data: time split, threshold on validation, metrics on test."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from sklearn.metrics import precision_recall_curve, roc_curve

from core.config import Settings
from core.errors import InputError
from core.registry import get_version, load_model
from core.schema import FEATURES, LABEL
from core.tracking import get_client
from core.training.metrics import (
    choose_threshold,
    compute_metrics,
    plot_calibration,
    plot_pr_curve,
    plot_roc_curve,
)
from core.training.split import split_by_time
from core.training.train import (
    EARLY_STOPPING_ROUNDS,
    LIGHTGBM_PARAMS,
    file_sha256,
    train_from_csv,
)
from tests.conftest import LEAD


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


def _labelled(n: int, frauds_at: list[int]) -> pd.DataFrame:
    """``n`` rows at Time 0..n-1 (given in reverse), frauds at the given times."""
    label = np.zeros(n, dtype=np.int8)
    label[frauds_at] = 1
    frame = pd.DataFrame({"Time": np.arange(n, dtype=float), LABEL: label})
    return frame.iloc[::-1]


def test_split_shares_are_the_ones_asked_for() -> None:
    frame = _labelled(100, [0, 1, 60, 61, 95, 96])
    split = split_by_time(frame, validation=0.3, test=0.1)
    assert split.sizes() == {"train": 60, "validation": 30, "test": 10}
    assert split.train["Time"].tolist() == list(range(60))  # time order, not file order
    assert split.validation["Time"].tolist() == list(range(60, 90))
    assert split.test["Time"].tolist() == list(range(90, 100))
    default = split_by_time(_labelled(20, [0, 1, 12, 13, 16, 17]))
    assert default.sizes() == {"train": 12, "validation": 4, "test": 4}


def test_split_keeps_equal_times_in_file_order() -> None:
    frame = pd.DataFrame(
        {"Time": [1.0, 0.0, 1.0, 1.0, 0.0], LABEL: [1, 0, 1, 0, 0], "id": range(5)}
    )
    frame = pd.concat([frame] * 4, ignore_index=True)
    frame["id"] = range(20)
    ordered = split_by_time(frame, validation=0.25, test=0.25)
    ids = [*ordered.train["id"], *ordered.validation["id"], *ordered.test["id"]]
    assert ids == [1, 4, 6, 9, 11, 14, 16, 19, 0, 2, 3, 5, 7, 8, 10, 12, 13, 15, 17, 18]


@pytest.mark.parametrize(
    ("validation", "test"),
    [(0.0, 0.2), (1.0, 0.2), (0.2, 0.0), (0.2, 1.0), (0.5, 0.5), (0.6, 0.5)],
)
def test_split_refuses_bad_shares(validation: float, test: float) -> None:
    with pytest.raises(
        InputError, match=rf"^bad split shares: validation={validation}, test={test}$"
    ):
        split_by_time(_labelled(100, list(range(0, 100, 5))), validation=validation, test=test)


def test_split_needs_two_frauds_and_a_legitimate_row_in_each_part() -> None:
    two_each = [0, 1, 60, 61, 80, 81]
    assert split_by_time(_labelled(100, two_each)).sizes()["test"] == 20
    with pytest.raises(
        InputError,
        match=r"^the validation split \(20 rows by time\) has 1 frauds; each split needs at least "
        r"2 frauds and some legitimate rows\. The data has 5 frauds in 100 rows: use more data\.$",
    ):
        split_by_time(_labelled(100, [0, 1, 60, 80, 81]))
    with pytest.raises(InputError, match=r"^the train split \(60 rows by time\) has 1 frauds"):
        split_by_time(_labelled(100, [0, 60, 61, 80, 81]))
    with pytest.raises(InputError, match=r"^the test split \(20 rows by time\) has 20 frauds"):
        split_by_time(_labelled(100, [0, 1, 60, 61, *range(80, 100)]))


def test_threshold_ties_and_the_last_point() -> None:
    # Two cuts tie on F1 (0.5 and 0.7 both give 2/3): the lower one is kept.
    y = np.array([1, 0, 1, 0])
    p = np.array([0.5, 0.6, 0.7, 0.2])
    assert choose_threshold(y, p) == pytest.approx(0.5)
    # The top score alone is best: the cut is that score, not the curve's end point.
    assert choose_threshold(np.array([0, 0, 1]), np.array([0.1, 0.2, 0.9])) == pytest.approx(0.9)
    assert isinstance(choose_threshold(y, p), float)


def test_threshold_on_weak_scores_matches_an_independent_search() -> None:
    # Weak scores: the best F1 is low (precision + recall < 1), where a wrong F1 formula
    # picks another cut.
    y = np.zeros(30, dtype=int)
    y[[4, 7, 12, 26]] = 1
    p = np.array(
        [
            *(0.18, 0.44, 0.58, 0.44, 0.59, 0.04, 0.59, 0.41, 0.06, 0.77, 0.53, 0.36, 0.74),
            *(0.38, 0.1, 0.48, 0.6, 0.6, 0.44, 0.74, 0.76, 0.7, 0.3, 0.21, 0.42, 0.52, 0.28),
            *(0.45, 0.35, 0.0),
        ]
    )
    assert _f1_best_cut(y, p) == 0.59  # 9 alerts, 2 frauds caught: F1 = 4 / 13
    assert choose_threshold(y, p) == 0.59


def test_metrics_precision_recall_and_f1_are_not_symmetric() -> None:
    y = np.array([1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.7, 0.1])
    m = compute_metrics(y, p, threshold=0.75, k=2)
    assert (m.precision, m.recall) == (1.0, 2 / 3)
    assert m.f1 == pytest.approx(0.8)
    one = compute_metrics(np.array([1, 0, 0]), np.array([0.9, 0.2, 0.1]), threshold=0.5)
    assert (one.precision, one.recall, one.f1) == (1.0, 1.0, 1.0)


def test_metrics_count_a_score_at_the_threshold_as_an_alert() -> None:
    y = np.array([1, 0, 1, 0, 0])
    p = np.array([0.6, 0.6, 0.4, 0.1, 0.3])
    m = compute_metrics(y, p, threshold=0.6)  # default k = 100, capped at 5 rows
    assert (m.precision, m.recall, m.k, m.threshold) == (0.5, 0.5, 5, 0.6)
    assert m.precision_at_k == pytest.approx(2 / 5)
    assert m.as_dict()["k"] == 5.0 and isinstance(m.as_dict()["k"], float)
    none = compute_metrics(y, p, threshold=0.99, k=0)
    assert (none.precision, none.recall, none.f1, none.precision_at_k, none.k) == (0, 0, 0, 0, 0)
    assert compute_metrics(y.astype(float), p, threshold=0.3, k=3).precision_at_k == 2 / 3


def test_precision_at_k_queues_tied_scores_in_row_order() -> None:
    # 10 rows score 0.9 and 20 score 0.5 (rows 1, 3, 5, ...): a queue of 13 takes the 0.9s,
    # then the first three 0.5s of the file, rows 1, 3 and 5, the only frauds: 3 / 13.
    p = np.tile([0.2, 0.5, 0.9, 0.5], 10)
    y = np.zeros(40, dtype=int)
    y[[1, 3, 5]] = 1
    m = compute_metrics(y, p, threshold=0.95, k=13)
    assert m.precision_at_k == 3 / 13


def test_plots_show_the_curves_and_the_operating_point() -> None:
    y = np.array([1, 0, 1, 0, 0, 0, 1, 0])
    p = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.05, 0.3, 0.6])
    pr = plot_pr_curve(y, p, threshold=0.65)
    ax = pr.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == (
        "Recall",
        "Precision",
        "Precision-recall (test)",
    )
    assert ax.get_ylim() == (0, 1.02)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["AUPRC 0.756", "threshold 0.650", "no skill"]
    point = ax.collections[0].get_offsets()[0].tolist()
    assert point == [2 / 3, 2 / 3]  # recall 2 of 3 frauds, precision 2 of 3 alerts
    assert ax.lines[1].get_ydata()[0] == 3 / 8  # the fraud rate
    assert [
        t.get_text() for t in plot_pr_curve(y, p, threshold=0.95).axes[0].get_legend().get_texts()
    ] == [
        "AUPRC 0.756",
        "no skill",
    ]
    roc = plot_roc_curve(y, p).axes[0]
    assert (roc.get_xlabel(), roc.get_ylabel(), roc.get_title()) == (
        "False positive rate",
        "True positive rate",
        "ROC (test)",
    )
    assert [t.get_text() for t in roc.get_legend().get_texts()] == ["ROC-AUC 0.800"]
    assert roc.lines[1].get_xydata().tolist() == [[0, 0], [1, 1]]
    cal = plot_calibration(y, p).axes[0]
    assert (cal.get_xlabel(), cal.get_ylabel(), cal.get_title()) == (
        "Mean predicted probability",
        "Fraud rate",
        "Calibration (test)",
    )
    assert [t.get_text() for t in cal.get_legend().get_texts()] == ["model", "perfect"]
    assert cal.lines[1].get_xydata().tolist() == [[0, 0], [1, 1]]
    assert len(cal.lines[0].get_xdata()) == 8  # ten quantile bins, at most one per score


# --------------------------------------------------------------------------- validation only


def _f1_best_cut(y: np.ndarray, p: np.ndarray) -> float:
    """The F1-maximising cut ``p >= t`` over the distinct scores, lowest cut on ties.

    Written here, independently of ``core``: the test's own reading of the criterion.
    """
    cuts = np.unique(p)  # ascending
    alerts = (p[None, :] >= cuts[:, None]).sum(axis=1)
    caught = ((p[None, :] >= cuts[:, None]) & (y[None, :] == 1)).sum(axis=1)
    f1 = 2 * caught / (alerts + y.sum())
    return float(cuts[int(np.argmax(f1))])


def _best_iteration(
    x: pd.DataFrame, y: np.ndarray, x_eval: pd.DataFrame, y_eval: np.ndarray
) -> int:
    """LightGBM's own early stopping with the training parameters, on the given slice."""
    model = lgb.LGBMClassifier(
        **LIGHTGBM_PARAMS, scale_pos_weight=float(np.sqrt((y == 0).sum() / y.sum()))
    )
    model.fit(
        x,
        y,
        eval_X=x_eval,
        eval_y=y_eval,
        eval_metric="binary_logloss",
        callbacks=[
            lgb.early_stopping(EARLY_STOPPING_ROUNDS, first_metric_only=True, verbose=False)
        ],
    )
    return int(model.best_iteration_)


@pytest.fixture(scope="module")
def test_slice_unlike_validation(tiny_frame: pd.DataFrame) -> pd.DataFrame:
    """The tiny frame with label noise in its last (test) fifth by time: there, the best cut
    and the best tree count differ from those on validation."""
    frame = tiny_frame.sort_values("Time", kind="stable").reset_index(drop=True)
    late = frame.index[round(len(frame) * 0.8) :]
    rng = np.random.default_rng(0)
    flipped = rng.choice(late[frame.loc[late, LABEL].to_numpy() == 0], size=60, replace=False)
    frame.loc[flipped, LABEL] = 1
    return frame


def test_threshold_and_early_stopping_use_validation_only(
    test_slice_unlike_validation: pd.DataFrame, tmp_path: Path
) -> None:
    frame = test_slice_unlike_validation
    path = tmp_path / "noisy-test.csv"
    frame.to_csv(path, index=False)
    # raw Time: the early-stopping check below refits on the frame's own columns
    settings = Settings(home=tmp_path / "home", model_name="validation-only", time_feature="raw")
    result = train_from_csv(path, settings=settings, model_kind="lightgbm", actor=LEAD)

    # The test's own time split: 60 / 20 / 20 in Time order (the frame is already sorted).
    n = len(frame)
    cut_val, cut_test = round(n * 0.6), round(n * 0.8)
    x, y = frame[list(FEATURES)], frame[LABEL].to_numpy(np.int8)
    parts = {
        "train": slice(0, cut_val),
        "val": slice(cut_val, cut_test),
        "test": slice(cut_test, n),
    }
    xs = {k: x.iloc[s] for k, s in parts.items()}
    ys = {k: y[s] for k, s in parts.items()}

    # on the version's probability scale (calibrated on validation)
    model = load_model(settings, get_version(settings, result.version))
    on_val = _f1_best_cut(ys["val"], model.predict_proba(xs["val"].to_numpy()))
    on_test = _f1_best_cut(ys["test"], model.predict_proba(xs["test"].to_numpy()))
    assert on_val != pytest.approx(on_test, abs=1e-6)  # the data tells the two apart
    assert result.metrics.threshold == pytest.approx(on_val, abs=1e-12)

    stop_val = _best_iteration(xs["train"], ys["train"], xs["val"], ys["val"])
    stop_test = _best_iteration(xs["train"], ys["train"], xs["test"], ys["test"])
    assert stop_val != stop_test
    logged = get_client(settings).get_run(result.run_id).data.params["best_iteration"]
    assert int(logged) == stop_val


def test_plots_draw_the_right_data_in_the_house_style() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random(400) < 0.2).astype(int)
    p = np.round(np.clip(rng.random(400) * 0.7 + y * 0.3, 0, 1), 3)
    cut = float(p[y == 1][0])  # a threshold equal to a score: that row is an alert
    pr = plot_pr_curve(y, p, threshold=cut)
    roc = plot_roc_curve(y, p)
    cal = plot_calibration(y, p)
    for figure in (pr, roc, cal):
        assert figure.get_size_inches().tolist() == [5.0, 4.0]
    ax = pr.axes[0]
    precision, recall, _ = precision_recall_curve(y, p)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), recall)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), precision)
    alerts = p >= cut
    point = ax.collections[0]
    assert point.get_offsets()[0].tolist() == [alerts[y == 1].mean(), y[alerts].mean()]
    assert to_hex(point.get_facecolor()[0]) == to_hex("crimson") and point.get_zorder() == 3
    no_skill = ax.lines[1]
    assert (to_hex(no_skill.get_color()), no_skill.get_linestyle()) == (to_hex("grey"), ":")
    assert ax.get_legend()._loc == 3  # lower left

    ax = roc.axes[0]
    fpr, tpr, _ = roc_curve(y, p)
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), fpr)
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), tpr)
    diagonal = ax.lines[1]
    assert (to_hex(diagonal.get_color()), diagonal.get_linestyle()) == (to_hex("grey"), ":")
    assert ax.get_legend()._loc == 4  # lower right

    ax = cal.axes[0]
    # ten bins of 40 rows each, in score order
    order = np.argsort(p, kind="stable")
    bins = np.array_split(order, 10)
    assert len(ax.lines[0].get_xdata()) == 10
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [p[b].mean() for b in bins], atol=0.02)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [y[b].mean() for b in bins], atol=0.08)
    assert ax.lines[0].get_marker() == "o"
    perfect = ax.lines[1]
    assert (to_hex(perfect.get_color()), perfect.get_linestyle()) == (to_hex("grey"), ":")
    assert ax.get_legend()._loc == 2  # upper left


def test_logging_a_logreg_model_prints_no_pickle_warning(
    tiny_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """MLflow checks a logged model's input example by loading the model back, which the
    pickle defence refuses: a long warning on every LogReg training, for nothing."""
    import logging
    import os

    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    source = logging.getLogger("mlflow.models.model")
    handler = Collect(level=logging.DEBUG)
    source.addHandler(handler)
    try:
        data = tmp_path / "tiny.csv"
        tiny_frame.to_csv(data, index=False)
        result = train_from_csv(
            data, settings=Settings(home=tmp_path), model_kind="logreg", actor=LEAD
        )
    finally:
        source.removeHandler(handler)
    assert result.model_kind == "logreg" and result.version == 1
    shown = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert not [m for m in shown if "serving input" in m or "PICKLE" in m], shown
    assert os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] == "false"  # not weakened
