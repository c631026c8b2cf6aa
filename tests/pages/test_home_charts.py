"""Home's charts in Vega-Lite (app/ui/home_charts.py): what each cell and line says."""

from __future__ import annotations

import numpy as np

from app.ui.home_charts import confusion_spec, thin_curve
from core.confusion import ConfusionCounts


def test_each_cell_of_the_matrix_has_its_count_and_its_share_of_its_class() -> None:
    spec = confusion_spec(ConfusionCounts(threshold=0.5, tp=3, fp=1, fn=2, tn=94))
    cells = {(v["truth"], v["decision"]): v for v in spec["data"]["values"]}
    assert cells["fraud", "alert"]["text"] == "caught (TP)\n3\n60.0% of 5"
    assert cells["fraud", "no alert"]["text"] == "missed (FN)\n2\n40.0% of 5"
    assert cells["legitimate", "alert"]["text"] == "false alarm (FP)\n1\n1.1% of 95"
    assert cells["legitimate", "no alert"]["text"] == "passed (TN)\n94\n98.9% of 95"
    assert cells["fraud", "alert"]["share"] == 0.6
    no_frauds = confusion_spec(ConfusionCounts(threshold=0.5, tp=0, fp=0, fn=0, tn=10))
    assert {v["text"] for v in no_frauds["data"]["values"] if v["truth"] == "fraud"} == {
        "caught (TP)\n0",
        "missed (FN)\n0",
    }


def test_a_long_tail_is_thinned_and_the_knee_is_kept() -> None:
    """30,000 points, 40 of them where precision is high: thinning keeps every point that
    moves the curve by 1/1000 of an axis, so the knee (where a threshold sits) survives."""
    knee_recall = np.linspace(0.0, 0.7, 40)
    tail_recall = np.linspace(0.7, 1.0, 29_960)
    recall = np.r_[knee_recall, tail_recall]
    precision = np.r_[np.ones(40), np.full(29_960, 0.002)]
    x, y = thin_curve(recall, precision)
    assert len(x) < 400
    kept = set(zip(x, y, strict=True))
    assert all((float(r), 1.0) in kept for r in knee_recall)
    assert (x[0], y[0]) == (0.0, 1.0) and (x[-1], y[-1]) == (1.0, 0.002)
