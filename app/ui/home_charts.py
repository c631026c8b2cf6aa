"""Home's two charts, the confusion matrix and the precision-recall curve, as Vega-Lite.

Home is the first page anyone sees, and the first render is what the browser loads for
it. Plotly's part of Streamlit's frontend is a 4.7 MB script that the browser must fetch
(gzipped by the server as it goes: ~0.5 s of the server's CPU), parse and run before the
page can finish; Vega-Lite's is about a sixth of that. The other pages keep Plotly (bench/README.md,
"First page render").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.confusion import ConfusionCounts
from core.operating import OperatingPoint
from core.schema import rate_text

CURVE_RESOLUTION = 1_000
"""A PR curve is drawn at this many steps per axis (see :func:`thin_curve`)."""
FRAUD_RED = "#d62728"
NO_SKILL_GREY = "#7f7f7f"


def confusion_spec(counts: ConfusionCounts) -> dict[str, Any]:
    """The 2x2 matrix: rows the truth, columns the decision; each cell its name, its count
    and its share of its true class, shaded by that share."""
    cells = [
        ("fraud", "alert", "caught (TP)", counts.tp, counts.frauds),
        ("fraud", "no alert", "missed (FN)", counts.fn, counts.frauds),
        ("legitimate", "alert", "false alarm (FP)", counts.fp, counts.legitimate),
        ("legitimate", "no alert", "passed (TN)", counts.tn, counts.legitimate),
    ]
    values = [
        {
            "truth": truth,
            "decision": decision,
            "count": count,
            "share": count / of if of else 0.0,
            "text": f"{name}\n{count:,}" + (f"\n{count / of:.1%} of {of:,}" if of else ""),
        }
        for truth, decision, name, count, of in cells
    ]
    x = {"field": "decision", "type": "nominal", "sort": ["alert", "no alert"]}
    y = {"field": "truth", "type": "nominal", "sort": ["fraud", "legitimate"]}
    return {
        "data": {"values": values},
        "height": 280,
        "encoding": {
            "x": {**x, "title": "Decision", "axis": {"orient": "top", "labelAngle": 0}},
            "y": {**y, "title": "Truth"},
        },
        "layer": [
            {
                "mark": {"type": "rect", "stroke": "white"},
                "encoding": {
                    "color": {
                        "field": "share",
                        "type": "quantitative",
                        "scale": {"scheme": "blues", "domain": [0, 1]},
                        "legend": None,
                    },
                    "tooltip": [
                        {"field": "count", "type": "quantitative", "format": ","},
                        {"field": "share", "type": "quantitative", "format": ".1%"},
                    ],
                },
            },
            {
                "mark": {"type": "text", "fontSize": 12, "lineHeight": 16, "lineBreak": "\n"},
                "encoding": {
                    "text": {"field": "text"},
                    "color": {
                        "condition": {"test": "datum.share > 0.5", "value": "white"},
                        "value": "black",
                    },
                },
            },
        ],
    }


def thin_curve(
    x: np.ndarray, y: np.ndarray, resolution: int = CURVE_RESOLUTION
) -> tuple[list, list]:
    """The points of a curve that move it by at least ``1 / resolution`` of either axis
    since the point before (both ends kept): what a chart can show, at any density. A PR
    curve over 30,000 rows has most of its points in its low-precision tail and a few
    dozen where it matters, so thinning by position would lose those."""
    if len(x) < 3:
        return list(map(float, x)), list(map(float, y))
    cells = np.stack([np.round(x * resolution), np.round(y * resolution)])
    moved = np.r_[True, (np.diff(cells, axis=1) != 0).any(axis=0)]
    moved[-1] = True
    return list(map(float, x[moved])), list(map(float, y[moved]))


def pr_curve_spec(point: OperatingPoint) -> dict[str, Any]:
    """The version's precision-recall curve on its test split, its threshold marked (a
    diamond) and the no-skill line at the split's fraud rate."""
    recall, precision = thin_curve(
        np.asarray(point.pr_curve.recall), np.asarray(point.pr_curve.precision)
    )
    axes = {
        "x": {"field": "recall", "type": "quantitative", "title": "Recall",
              "scale": {"domain": [0, 1]}},
        "y": {"field": "precision", "type": "quantitative", "title": "Precision",
              "scale": {"domain": [0, 1.02]}},
    }  # fmt: skip
    tooltip = [
        {"field": "recall", "type": "quantitative", "format": ".3f"},
        {"field": "precision", "type": "quantitative", "format": ".3f"},
    ]
    curve = zip(recall, precision, strict=True)
    layers: list[dict[str, Any]] = [
        {
            "data": {"values": [{"recall": r, "precision": p} for r, p in curve]},
            "mark": {"type": "line", "color": FRAUD_RED, "strokeWidth": 2},
            "encoding": {**axes, "tooltip": tooltip},
        }
    ]
    counts = point.confusion
    if counts is not None and counts.recall is not None and counts.precision is not None:
        layers.append(
            {
                "data": {"values": [{"recall": counts.recall, "precision": counts.precision}]},
                "mark": {"type": "point", "shape": "diamond", "size": 160, "filled": True,
                         "color": FRAUD_RED},
                "encoding": {**axes, "tooltip": tooltip},
            }
        )  # fmt: skip
    frauds, rows = point.provenance.test_frauds, point.provenance.test_rows
    if frauds is not None and rows:
        prevalence = frauds / rows
        label = f"no skill ({rate_text(prevalence)} fraud)"
        rule = {"data": {"values": [{"precision": prevalence}]}, "encoding": {"y": axes["y"]}}
        dashed = {"type": "rule", "strokeDash": [4, 4], "color": NO_SKILL_GREY}
        layers.append({**rule, "mark": dashed})
        layers.append(
            {
                **rule,
                "mark": {"type": "text", "text": label, "align": "left", "x": 4,
                         "dy": -8 if prevalence < 0.9 else 8, "color": NO_SKILL_GREY},
            }
        )  # fmt: skip
    return {"height": 300, "layer": layers}
