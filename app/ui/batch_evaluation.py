"""A labelled batch judged at the live threshold, and a what-if threshold slider."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app.ui.batch_view import BatchRun
from core.registry import format_threshold
from core.schema import LABEL
from core.scoring import PROBABILITY
from core.scoring.batch_files import read_columns
from core.scoring.evaluate import BatchEvaluation, compute_batch_evaluation


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def slider_start(live: float) -> float:
    """The what-if slider's first position: the live threshold on its 0.0001 grid."""
    return float(np.clip(round(live, 4), 0.0, 1.0))


def what_if_threshold(value: float, *, live: float) -> float:
    """The threshold the what-if judges at: the live one itself while the slider sits on
    its first position. The slider holds 4 decimals, and rows between the live threshold
    and its rounding (0.31575158 -> 0.3158) would otherwise show as alerts gained or lost
    before the slider is touched."""
    return live if value == slider_start(live) else value


def confusion_frame(evaluation: BatchEvaluation) -> pd.DataFrame:
    """The confusion matrix as a small table: counts with the share of their true class."""
    e = evaluation
    frauds, legitimate = e.frauds, e.false_positives + e.true_negatives

    def cell(count: int, of: int) -> str:
        return f"{count:,} ({count / of:.1%})" if of else f"{count:,}"

    return pd.DataFrame(
        {
            "alert": [cell(e.true_positives, frauds), cell(e.false_positives, legitimate)],
            "no alert": [cell(e.false_negatives, frauds), cell(e.true_negatives, legitimate)],
            "total": [f"{frauds:,}", f"{legitimate:,}"],
        },
        index=pd.Index(["fraud (Class 1)", "legitimate (Class 0)"], name="label"),
    )


def show_evaluation(run: BatchRun, *, threshold: float) -> None:
    """The file's labels against the live version's decisions, then a what-if slider."""
    columns = read_columns(run.files.scored, [LABEL, PROBABILITY, "Amount"])
    labels, probability, amount = columns[LABEL], columns[PROBABILITY], columns["Amount"]
    at_live = compute_batch_evaluation(labels, probability, amount, threshold=threshold)
    if at_live.labelled == 0:
        st.info("The file has a Class column but no usable label.", icon=":material/info:")
        return
    st.subheader("Evaluation against the file's labels")
    note = (
        f" {at_live.unlabelled:,} rows without a usable label are left out."
        if at_live.unlabelled
        else ""
    )
    st.caption(
        f"{at_live.labelled:,} labelled rows, {at_live.frauds:,} frauds, at the live "
        f"threshold {format_threshold(threshold)}.{note}"
    )
    a, b, c = st.columns(3)
    a.metric("Precision", _rate(at_live.precision), help="Share of alerts that are fraud.")
    b.metric("Recall", _rate(at_live.recall), help="Share of frauds alerted on.")
    c.metric(
        "AUPRC",
        "n/a" if run.auprc is None else f"{run.auprc:.3f}",
        help="Average precision over every threshold; needs frauds and legitimate rows.",
    )
    st.dataframe(confusion_frame(at_live), key="batch_confusion")
    a, b = st.columns(2)
    a.metric("Fraud amount caught", f"{at_live.amount_caught:,.2f}")
    b.metric("Fraud amount missed", f"{at_live.amount_missed:,.2f}")

    st.markdown("**What if the threshold were...**")
    st.caption(
        "A what-if on this file only: nothing is saved. Changing the live threshold is an "
        "ML lead's audited action (Compare versions / `workbench threshold`)."
    )
    what_if = st.slider(
        "Threshold (what-if)",
        min_value=0.0,
        max_value=1.0,
        value=slider_start(threshold),
        step=0.0001,
        format="%.4f",
        key="batch_what_if",
    )
    e = compute_batch_evaluation(
        labels, probability, amount, threshold=what_if_threshold(what_if, live=threshold)
    )
    a, b, c, d = st.columns(4)
    a.metric("Alerts", f"{e.alerts:,}", delta=f"{e.alerts - at_live.alerts:+,}", delta_color="off")
    b.metric(
        "False alarms",
        f"{e.false_positives:,}",
        delta=f"{e.false_positives - at_live.false_positives:+,}",
        delta_color="inverse",
    )
    c.metric(
        "Fraud caught",
        f"{e.true_positives:,} of {e.frauds:,}",
        delta=f"{e.true_positives - at_live.true_positives:+,}",
    )
    d.metric("Fraud amount caught", f"{e.amount_caught:,.2f}")
