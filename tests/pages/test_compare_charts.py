"""The compare and history pages' figures and tables: what a reader sees."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from app.ui.compare_charts import Curve, plot_calibration, plot_history_timeline, plot_pr_curves
from app.ui.lifecycle_view import history_table
from core.gates import GateResult
from core.history import HistoryRow


def test_calibration_markers_show_each_bins_rows_and_frauds() -> None:
    curve = Curve(
        "version 1",
        np.array([0.05, 0.5, 0.9]),
        np.array([0.01, 0.4, 0.95]),
        rows=np.array([4000, 12, 100]),
        frauds=np.array([40, 5, 95]),
    )
    trace = plot_calibration([curve]).data[1]  # data[0] is the diagonal
    assert trace.customdata.tolist() == [[4000, 40], [12, 5], [100, 95]]
    assert "%{customdata[0]:,.0f} rows, %{customdata[1]:,.0f} frauds" in trace.hovertemplate
    size = list(trace.marker.size)
    assert size[0] > size[2] > size[1]  # area follows the rows
    assert list(trace.marker.symbol) == ["circle", "circle-open", "circle"]  # 12 rows: few


@pytest.mark.parametrize(
    ("prevalence", "text", "side"),
    [(0.0017, "no skill (0.17% fraud)", "bottom"), (0.95, "no skill (95.00% fraud)", "top")],
)
def test_the_no_skill_label_sits_inside_the_plot_clear_of_the_curves_end(
    prevalence: float, text: str, side: str
) -> None:
    curve = Curve("version 1", np.array([0.0, 0.5, 1.0]), np.array([1.0, 0.6, 0.0017]), (0.6, 0.5))
    [label] = plot_pr_curves([curve], prevalence=prevalence).layout.annotations
    assert label.text == text
    # at the left end of the line, where a PR curve runs high (at recall 1 every curve
    # falls onto the line, and the label was drawn under them)
    assert (label.xref, label.xanchor) == ("x domain", "left") and label.x < 0.05
    assert label.y == prevalence
    # above a low line, below a high one: never pushed past the top of the plot
    assert label.yanchor == side


def test_a_calibration_curve_without_counts_still_plots() -> None:
    curve = Curve("elsewhere", np.array([0.1, 0.9]), np.array([0.2, 0.8]))
    trace = plot_calibration([curve]).data[1]
    assert trace.customdata is None and "rows" not in trace.hovertemplate


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone set to UTC, so local times are known in advance."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_history_table_shows_seconds_and_dashes_not_none(utc: None) -> None:
    moment = datetime(2025, 3, 1, 14, 2, 7, 123456, tzinfo=UTC)
    first = HistoryRow(
        id=1, time=moment, actor="lead", role=None, kind="first", alias="champion",
        from_version=None, to_version=1, threshold=None, old_threshold=None,
        reason="", status="confirmed",
    )  # fmt: skip
    change = replace(first, id=2, kind="threshold", alias=None, threshold=0.25, old_threshold=0.5)
    gated = replace(first, id=3, kind="promote", role="ml_lead", from_version=1, to_version=2,
                    reason="better", gates=(GateResult("auprc", True, "ok"),))  # fmt: skip
    table = history_table([first, change, gated])
    assert table["time"].tolist() == ["2025-03-01 14:02:07 UTC"] * 3
    assert (
        table.iloc[0][["role", "from version", "threshold", "reason", "gates"]].tolist()
        == ["-"] * 5
    )
    assert table.iloc[1][["alias", "threshold", "old threshold"]].tolist() == [
        "-",
        "0.2500",
        "0.5000",
    ]
    assert table.iloc[2][["role", "alias", "from version", "to version", "gates"]].tolist() == [
        "ml_lead",
        "@champion",
        "1",
        "2",
        "auprc passed",
    ]
    assert not table.isna().any().any()


def test_the_history_timeline_hover_gives_the_time_to_the_second() -> None:
    moment = datetime(2025, 3, 1, 14, 2, 7, 123456)
    figure = plot_history_timeline([moment], ["@champion"], ["first"], ["unset -> v1"])
    assert figure.data[0].hovertemplate.startswith("%{x|%Y-%m-%d %H:%M:%S}<br>")


def test_waterfall_total_names_its_scale_and_the_probability_it_is() -> None:
    from app.ui.charts import plot_waterfall
    from core.explain import LOG_ODDS, RAW_LOG_ODDS

    values = np.array([1.0, 2.0])
    calibrated = plot_waterfall(
        np.array([1.0, -0.5]), -2.0, values, names=["a", "b"], scale=LOG_ODDS
    ).data[0]
    # -2 + 1 - 0.5 = -1.5, and 1 / (1 + e^1.5) = 0.18243: the probability the page shows
    assert calibrated.y[-1] == "total (log-odds)"
    assert calibrated.text[-1] == "-1.500 = 18.2%"
    isotonic = plot_waterfall(
        np.array([1.0, -0.5]), -2.0, values, names=["a", "b"], scale=RAW_LOG_ODDS
    ).data[0]
    # isotonic calibration is not a function of the log-odds: no probability beside it
    assert isotonic.y[-1] == "total (uncalibrated log-odds)"
    assert isotonic.text[-1] == "-1.500"


def _origin_notes(synthetic: list[bool]) -> None:
    from app.ui.provenance_view import render_origin_notes
    from core.provenance import DataProvenance

    render_origin_notes(
        [
            DataProvenance(
                version=v,
                dataset="x.csv",
                rows=10,
                frauds=1,
                test_rows=2,
                test_frauds=1,
                synthetic=s,
                sampling_fraction=1.0,
                recorded=True,
            )
            for v, s in enumerate(synthetic, start=1)
        ]
    )


@pytest.mark.parametrize(
    ("synthetic", "start"),
    [
        ([True, False], "Version 1 was trained and tested on synthetic demo data: its stored"),
        ([True, True, False], "Versions 1, 2 were trained and tested on synthetic demo data: "),
    ],
)
def test_synthetic_warning_reads_in_the_singular_and_says_where_to_compare(
    synthetic: list[bool], start: str
) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_origin_notes, kwargs={"synthetic": synthetic}).run()
    (warning,) = at.warning
    assert warning.value.startswith(start)
    # the Compare page shows this too: it points at the choice there, not at itself
    assert warning.value.endswith("choose them under Versions to compare (Compare versions).")


def test_counts_of_a_sampled_version_say_what_they_are_at_the_natural_prevalence() -> None:
    from app.ui.provenance_view import prevalence_note
    from core.confusion import ConfusionCounts

    counts = ConfusionCounts(threshold=0.0157, tp=62, fp=2, fn=15, tn=1003)
    # by hand: 2 false alarms / 0.0173 = 115.6; precision 62 / (62 + 115.6) = 0.349
    assert prevalence_note(counts, 0.0173) == (
        "These counts are on the test split as sampled (legitimate rows kept at 0.0173). "
        "At the natural prevalence each legitimate row stands for 57.8: about 116 false "
        "alarms for 62 frauds caught, precision 0.349; recall and the false-positive rate "
        "are unchanged."
    )
    assert prevalence_note(counts, 1.0) is None
    assert prevalence_note(counts, None) is None
