"""A labelled batch judged at the live threshold (raw, and weighted to the natural
prevalence for a down-sampled file), and a what-if threshold slider."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from app.ui.batch_view import BatchRun
from core.compare import check_sampling_fraction
from core.compare.prevalence import PrevalenceMetrics, compute_prevalence_metrics
from core.errors import InputError
from core.registry import format_threshold
from core.schema import INVALID_LABEL, LABEL, count_text
from core.scoring import PROBABILITY
from core.scoring.batch_files import has_column, read_columns
from core.scoring.evaluate import BatchEvaluation, compute_batch_evaluation


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def slider_start(live: float) -> float:
    """The what-if slider's first position: the live threshold on its 0.0001 grid."""
    return float(np.clip(round(live, 4), 0.0, 1.0))


def change(now: int, live: int) -> str | None:
    """A what-if count's change from the live threshold's, or None (no arrow) when there is
    none: an arrow over "+0" read as a change."""
    return None if now == live else f"{now - live:+,}"


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


def left_out_text(evaluation: BatchEvaluation) -> str:
    """The rows without a usable label, by why: an invalid value or an empty cell."""
    parts = []
    if evaluation.invalid:
        parts.append(
            f"{evaluation.invalid:,} with an invalid {LABEL} (not 0 or 1; the value is in "
            f"the {INVALID_LABEL} column)"
        )
    if evaluation.unlabelled:
        parts.append(f"{evaluation.unlabelled:,} with an empty {LABEL}")
    return f" Left out: {' and '.join(parts)}." if parts else ""


def starting_fraction(run: BatchRun) -> float:
    """The sampling fraction input's first value: the one the scoring version was trained
    with when it recorded one, else 1 (the file as it is)."""
    return run.sampling_fraction if run.sampling_fraction is not None else 1.0


def fraction_caption(run: BatchRun) -> str:
    """Why the sampling fraction starts where it does."""
    if run.sampling_fraction is None or run.sampling_fraction == 1.0:
        return (
            "Starts at 1: the file taken as it is. If it keeps only a share of its "
            "legitimate rows (down-sampled: the ULB sample keeps 4,920 of 284,315, i.e. "
            "0.0173), enter that share as a decimal to see precision and AUPRC at the natural "
            "prevalence."
        )
    return (
        f"Starts at {run.sampling_fraction:.6g}, the fraction this version was trained "
        "with: a labelled file is most often a held-out part of the same down-sampled data. "
        "Enter 1 for a file at the natural prevalence (e.g. labelled live traffic); the raw "
        "figures are shown either way."
    )


@st.cache_data(max_entries=8, show_spinner=False)
def weighted_metrics(
    key: str, fraction: float, threshold: float, _labels: np.ndarray, _probability: np.ndarray
) -> PrevalenceMetrics | None:
    """Precision and AUPRC weighted to the natural prevalence (``key``: the scored file),
    None unless the labelled rows hold both classes and every score is finite."""
    known = ~np.isnan(_labels)
    labels, probability = _labels[known].astype(np.int8), _probability[known]
    if not np.isfinite(probability).all():
        return None
    try:
        return compute_prevalence_metrics(
            labels, probability, threshold=threshold, sampling_fraction=fraction
        )
    except InputError:  # one class only
        return None


def show_evaluation(run: BatchRun, *, threshold: float) -> None:
    """The file's labels against the live version's decisions, then a what-if slider."""
    path = run.files.scored
    columns = read_columns(path, [LABEL, PROBABILITY, "Amount"])
    labels, probability, amount = columns[LABEL], columns[PROBABILITY], columns["Amount"]
    invalid = (
        pd.notna(read_columns(path, [INVALID_LABEL])[INVALID_LABEL])
        if has_column(path, INVALID_LABEL)
        else None
    )
    at_live = compute_batch_evaluation(
        labels, probability, amount, threshold=threshold, invalid=invalid
    )
    if at_live.labelled == 0:
        st.info(
            f"The file has a Class column but no usable label.{left_out_text(at_live)}",
            icon=":material/info:",
        )
        return
    st.subheader("Evaluation against the file's labels")
    st.caption(
        f"{count_text(at_live.labelled, 'labelled row')}, {count_text(at_live.frauds, 'fraud')}, "
        "at the live "
        f"threshold {format_threshold(threshold)}.{left_out_text(at_live)}"
    )
    fraction = st.number_input(
        "Sampling fraction of legitimate rows",
        min_value=0.0001,
        max_value=1.0,
        value=starting_fraction(run),
        step=0.0001,
        format="%.4f",
        key=f"batch_fraction_{run.files.folder.name}",
        help="The share of legitimate rows the file keeps (1 = all). Below 1, precision and "
        "AUPRC are also shown weighted to the natural prevalence: each legitimate row counts "
        "1 / fraction times (recall does not change).",
    )
    st.caption(fraction_caption(run))
    a, b, c = st.columns(3)
    a.metric("Precision", _rate(at_live.precision), help="Share of alerts that are fraud.")
    b.metric("Recall", _rate(at_live.recall), help="Share of frauds alerted on.")
    c.metric(
        "AUPRC",
        "n/a" if run.auprc is None else f"{run.auprc:.3f}",
        help="Average precision over every threshold; needs frauds and legitimate rows.",
    )
    try:
        fraction = check_sampling_fraction(fraction)
    except InputError as exc:
        st.error(str(exc), icon=":material/error:")
        fraction = 1.0
    if fraction < 1.0:
        weighted = weighted_metrics(str(path), fraction, threshold, labels, probability)
        a, _, c = st.columns(3)
        help_text = f"Legitimate rows counted 1 / {fraction:.6g} times each."
        a.metric(
            "Precision (natural prevalence)",
            "n/a" if weighted is None else _rate(weighted.weighted.precision),
            help=help_text,
        )
        c.metric(
            "AUPRC (natural prevalence)",
            "n/a" if weighted is None else f"{weighted.weighted.auprc:.3f}",
            help=help_text,
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
    a.metric("Alerts", f"{e.alerts:,}", delta=change(e.alerts, at_live.alerts), delta_color="off")
    b.metric(
        "False alarms",
        f"{e.false_positives:,}",
        delta=change(e.false_positives, at_live.false_positives),
        delta_color="inverse",
    )
    c.metric(
        "Fraud caught",
        f"{e.true_positives:,} of {e.frauds:,}",
        delta=change(e.true_positives, at_live.true_positives),
    )
    d.metric("Fraud amount caught", f"{e.amount_caught:,.2f}")
