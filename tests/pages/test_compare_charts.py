"""The compare page's figures: what a reader sees per calibration bin."""

from __future__ import annotations

import numpy as np

from app.ui.compare_charts import Curve, plot_calibration


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


def test_a_calibration_curve_without_counts_still_plots() -> None:
    curve = Curve("elsewhere", np.array([0.1, 0.9]), np.array([0.2, 0.8]))
    trace = plot_calibration([curve]).data[1]
    assert trace.customdata is None and "rows" not in trace.hovertemplate
