"""A version's calibration, before and after: Brier scores and a reliability diagram.

Read from the report training logs with the run (``core.artifacts.get_reliability``); a
version trained before calibration, or elsewhere, has none and keeps its raw scale.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from app.ui.compare_charts import Curve, plot_calibration
from core.artifacts import get_reliability
from core.config import Settings
from core.errors import NotFoundError, WorkbenchError
from core.registry import ModelVersionInfo
from core.reliability import ReliabilityReport
from core.schema import format_brier


@st.cache_data(ttl=600, show_spinner="Reading the calibration report...")
def reliability(settings: Settings, run_id: str) -> ReliabilityReport:
    """A run's report (immutable once logged, so kept 10 minutes)."""
    return get_reliability(settings, run_id)


def render_calibration(settings: Settings, version_info: ModelVersionInfo) -> None:
    """Brier before and after calibration and the reliability diagram, on the version's
    test split; a caption instead where the version has no report."""
    st.markdown(f"**Probabilities**: {version_info.probability_scale_text}")
    if not version_info.run_id:
        st.caption("No run: this version was registered from outside the workbench.")
        return
    try:
        report = reliability(settings, version_info.run_id)
    except NotFoundError:
        st.caption(
            "No calibration report: this version was trained before calibration (or "
            "elsewhere); its probabilities are the model's raw output."
        )
        return
    except WorkbenchError as exc:
        st.error(f"The calibration report cannot be read: {exc}", icon=":material/error:")
        return
    weighted = report.sampling_fraction < 1.0
    where = " at the natural prevalence" if weighted else ""
    before, after = st.columns(2)
    before.metric(f"Brier, raw model{where}", format_brier(report.brier_before))
    after.metric(
        f"Brier, calibrated ({report.probability_scale}){where}",
        format_brier(report.brier_after),
        delta=brier_delta(report.brier_before, report.brier_after),
        delta_color="inverse",  # lower is better
    )
    curves = [
        Curve(
            label=label,
            x=np.asarray(curve.predicted),
            y=np.asarray(curve.observed),
            rows=np.asarray(curve.rows),
            frauds=np.asarray(curve.frauds),
        )
        for label, curve in (("raw model", report.before), ("calibrated", report.after))
    ]
    st.plotly_chart(plot_calibration(curves), key=f"reliability-{version_info.version}")
    bins = "Test split, ten equal-width probability bins"
    if weighted:
        bins += f", legitimate rows weighted 1/{report.sampling_fraction:.4g}"
    st.caption(f"{bins}. {method_caption(report)}")


def brier_delta(before: float, after: float) -> str | None:
    """The change of Brier score as the metric's delta, or None (no delta, no arrow) where
    the two scores read the same: the raw scale kept, or a change below the digits shown."""
    if format_brier(after) == format_brier(before):
        return None
    return ("+" if after > before else "-") + format_brier(abs(after - before))


def method_caption(report: ReliabilityReport) -> str:
    """How the method came about: chosen (``auto`` fits both Platt and isotonic) or asked
    for at training (one candidate, or none), with the out-of-fold log-losses."""
    losses = ", ".join(f"{k} {v:.4f}" for k, v in report.validation_log_loss.items())
    evidence = f"{report.folds}-fold out-of-fold log-loss"
    candidates = set(report.validation_log_loss) - {"raw"}
    if {"platt", "isotonic"} <= candidates:
        text = (
            "Method chosen on validation (calibration auto): Platt unless isotonic has the "
            f"lower {evidence}: {losses}."
        )
        if report.probability_scale == "raw":
            text += " Platt's slope was not positive, so the raw scale was kept."
        return text
    if not candidates:
        return (
            "Raw scale as asked for at training (calibration none); "
            f"{evidence} on validation: {losses}."
        )
    (asked,) = candidates
    text = (
        f"Method {asked} as asked for at training (not chosen); {evidence} on validation: {losses}."
    )
    if report.probability_scale == "raw":
        text += " Platt's slope was not positive, so the raw scale was kept."
    return text
