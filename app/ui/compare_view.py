"""The compare page's parts: cached core calls, the versions table and the comparison view.

Pages stay short (read widgets -> call core -> render); the tables and figures they show
are built here from core's results.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from app.ui.compare_charts import FEW_ROWS, Curve, plot_calibration, plot_pr_curves
from app.ui.decision_diff import render_decision_diff
from app.ui.format import escape_markdown
from app.ui.provenance_view import provenance_columns
from core.compare import (
    Comparison,
    Evaluation,
    LeakageCheck,
    VersionRow,
    compare_versions,
    list_version_rows,
    load_evaluation,
    param_diff,
    run_leakage_checks,
)
from core.config import Settings
from core.confusion import compute_confusion
from core.errors import WorkbenchError
from core.schema import count_text, noun_for


@st.cache_data(ttl=10, show_spinner="Reading the registered versions...")
def version_rows(settings: Settings) -> list[VersionRow]:
    return list_version_rows(settings)


@st.cache_resource(ttl=600, max_entries=4, show_spinner="Fetching the test split...")
def split_evaluation(settings: Settings, version: int | None) -> Evaluation:
    """A version's test split (None: the live version's), kept for 10 minutes."""
    return load_evaluation(settings, version=version)


@st.cache_resource(ttl=600, max_entries=4, show_spinner="Reading the uploaded CSV...")
def file_evaluation(
    settings: Settings, digest: str, _data: bytes, name: str, fraction: float
) -> Evaluation:
    """An uploaded labelled CSV (``digest`` keys the cache; the bytes are not hashed twice)."""
    import io

    buffer = io.BytesIO(_data)
    buffer.name = name
    return load_evaluation(settings, path=buffer, sampling_fraction=fraction)


def upload_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@st.cache_resource(
    ttl=600, max_entries=8, show_spinner="Scoring the versions on the evaluation rows..."
)
def comparison(
    settings: Settings,
    evaluation_key: str,
    _evaluation: Evaluation,
    versions: tuple[int, ...],
    baseline: int,
) -> Comparison:
    return compare_versions(settings, _evaluation, list(versions), baseline=baseline)


@st.cache_data(ttl=600, show_spinner=False)
def leakage(
    settings: Settings, evaluation_key: str, _evaluation: Evaluation, version: int
) -> LeakageCheck:
    return run_leakage_checks(settings, _evaluation, version)


@st.cache_data(ttl=60, show_spinner=False)
def parameters(
    settings: Settings, versions: tuple[int, ...], differences_only: bool
) -> pd.DataFrame:
    return param_diff(settings, list(versions), differences_only=differences_only)


TABLE_METRICS = ["auprc", "roc_auc", "precision", "recall", "f1", "precision_at_k", "brier"]


def versions_table(rows: list[VersionRow], *, alias: str, tag: str) -> pd.DataFrame:
    """The versions as a table, filtered by alias ("" = any) and a tag ``key`` or
    ``key=value`` ("" = any)."""
    kept = [r for r in rows if not alias or alias in r.aliases]
    if tag:
        key, _, value = tag.partition("=")
        kept = [
            r
            for r in kept
            if key.strip() in r.tags and (not value or r.tags[key.strip()] == value.strip())
        ]
    records = []
    for r in kept:
        record = {
            "version": r.version,
            "aliases": ", ".join(f"@{a}" for a in r.aliases),
            "kind": r.model_kind or "trained elsewhere",
            "trained": r.created_at,
            "threshold now": r.threshold,
        }
        if r.provenance is not None:  # which data the metrics came from, beside them
            record.update(provenance_columns(r.provenance))
        for key in TABLE_METRICS:
            record[key] = r.metrics.get(key)
            record[f"{key} (weighted)"] = r.weighted.get(key)
        record["sampling fraction"] = r.sampling_fraction
        record["data SHA-256"] = (r.data_sha256 or "")[:12]
        record["MLflow"] = r.mlflow_url
        records.append(record)
    return pd.DataFrame.from_records(records)


BRIER_FORMAT = "%.3g"
"""A Brier column's digits: three significant, as ``core.schema.format_brier`` (0.000626,
not 0.0006); the browser writes no exponent above 1e-6."""


def table_config() -> dict[str, object]:
    def digits(key: str) -> str:
        return BRIER_FORMAT if key == "brier" else "%.4f"

    number = {key: st.column_config.NumberColumn(format=digits(key)) for key in TABLE_METRICS}
    weighted = {
        f"{key} (weighted)": st.column_config.NumberColumn(
            format=digits(key),
            help="At the natural prevalence (legitimate rows weighted by 1 / sampling fraction)",
        )
        for key in TABLE_METRICS
    }
    return {
        **number,
        **weighted,
        "threshold now": st.column_config.NumberColumn(
            format="%.4f", help="The version's decision threshold today (an ML lead may change it)"
        ),
        "trained": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "MLflow": st.column_config.LinkColumn(display_text="open"),
    }


def describe_evaluation(evaluation: Evaluation) -> str:
    """One line on what the evaluation rows are, with the counts that make rates honest."""
    rate = evaluation.frauds / evaluation.rows if evaluation.rows else 0.0
    text = (
        f"Evaluation data: **{escape_markdown(evaluation.name)}**: "
        f"{count_text(evaluation.rows, 'row')}, {count_text(evaluation.frauds, 'fraud')} "
        f"({rate:.2%})"
    )
    if evaluation.sampling_fraction < 1:
        legit = evaluation.rows - evaluation.frauds
        natural = evaluation.frauds / (evaluation.frauds + legit / evaluation.sampling_fraction)
        text += (
            f"; legitimate rows sampled at {evaluation.sampling_fraction:.4%}, so the natural "
            f"fraud rate is about {natural:.3%} and weighted figures count each legitimate row "
            f"{1 / evaluation.sampling_fraction:,.1f} times"
        )
    return text + "."


def metrics_table(result: Comparison) -> pd.DataFrame:
    """Per version: its threshold and the metrics, raw and weighted, with the AUPRC
    difference against the baseline and its paired bootstrap interval."""
    records = []
    for c in result.versions:
        raw, weighted = c.metrics.raw, c.metrics.weighted
        record: dict[str, object] = {"version": c.version}
        # the comparison's answer first: the AUPRC difference and its interval
        for label, interval in (
            ("ΔAUPRC", c.auprc_difference),
            ("ΔAUPRC (weighted)", c.weighted_auprc_difference),
        ):
            record[label] = (
                "baseline"
                if interval is None
                else f"{interval.difference:+.4f} [{interval.low:+.4f}, {interval.high:+.4f}]"
            )
        record.update(
            {
                "AUPRC": raw.auprc,
                "AUPRC (weighted)": weighted.auprc,
                "threshold": c.threshold,
                "alerts / 10k": raw.alerts_per_10k,
                "alerts / 10k (weighted)": weighted.alerts_per_10k,
                "precision": raw.precision,
                "precision (weighted)": weighted.precision,
                "recall": raw.recall,
                "suggested threshold (max F1)": c.suggest_threshold,
                "ROC-AUC": raw.roc_auc,
                f"precision@{raw.k}": raw.precision_at_k,
                "Brier": raw.brier,
                "Brier (weighted)": weighted.brier,
            }
        )
        records.append(record)
    return pd.DataFrame.from_records(records)


def counts_table(result: Comparison, labels) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """Per version with a threshold: the confusion counts on the evaluation rows, and each
    rate with the counts behind it."""
    records = []
    for c in result.versions:
        if c.threshold is None:
            continue
        counts = compute_confusion(labels, c.probability, threshold=c.threshold)
        records.append(
            {
                "version": c.version,
                "threshold": c.threshold,
                "caught (TP)": counts.tp,
                "missed (FN)": counts.fn,
                "false alarms (FP)": counts.fp,
                "passed (TN)": counts.tn,
                "recall": f"{counts.tp:,} of {count_text(counts.frauds, 'fraud')}",
                "precision": f"{counts.tp:,} of {count_text(counts.alerts, 'alert')}",
            }
        )
    return pd.DataFrame.from_records(records)


def metrics_config() -> dict[str, object]:
    """Digits that match what each number can say."""
    four = st.column_config.NumberColumn(format="%.4f")
    one = st.column_config.NumberColumn(format="%.1f")
    names = (
        "AUPRC",
        "AUPRC (weighted)",
        "threshold",
        "precision",
        "precision (weighted)",
        "recall",
        "suggested threshold (max F1)",
        "ROC-AUC",
    )
    brier = st.column_config.NumberColumn(format=BRIER_FORMAT)
    return {
        "alerts / 10k": one,
        "alerts / 10k (weighted)": one,
        **dict.fromkeys(names, four),
        "Brier": brier,
        "Brier (weighted)": brier,
    }


def render_curves(result: Comparison, *, weighted: bool) -> None:
    """PR and calibration curves overlaid, one colour per version, side by side."""
    pr, calibration = [], []
    for c in result.versions:
        curve = c.pr_curve_weighted if weighted else c.pr_curve
        rates = c.metrics.weighted if weighted else c.metrics.raw
        point = None if rates.recall is None else (rates.recall, rates.precision)
        pr.append(Curve(f"version {c.version}", curve.recall, curve.precision, point))
        cal = c.calibration_weighted if weighted else c.calibration
        calibration.append(
            Curve(
                f"version {c.version}",
                cal.predicted,
                cal.observed,
                rows=cal.rows,
                frauds=cal.frauds,
            )
        )
    frauds, rows = result.frauds, result.rows
    prevalence = frauds / rows if rows else None
    if weighted and prevalence is not None and result.sampling_fraction < 1:
        prevalence = frauds / (frauds + (rows - frauds) / result.sampling_fraction)
    left, right = st.columns(2)
    left.markdown("**Precision-recall** (diamond: each version at its threshold)")
    left.plotly_chart(plot_pr_curves(pr, prevalence=prevalence), width="stretch")
    right.markdown(
        "**Calibration** (10 bins of predicted probability; marker area: the bin's rows, "
        f"hollow: fewer than {FEW_ROWS})"
    )
    right.plotly_chart(plot_calibration(calibration), width="stretch")


def safe(call, *args, **kwargs):  # type: ignore[no-untyped-def]
    """``call(*args, **kwargs)``, or None after showing its WorkbenchError."""
    try:
        return call(*args, **kwargs)
    except WorkbenchError as exc:
        st.error(str(exc), icon=":material/error:")
        return None


def render_comparison(
    settings: Settings, evaluation: Evaluation, key: str, chosen: list[int], *, live: int | None
) -> Comparison | None:
    """The comparison of ``chosen`` on ``evaluation`` (``key`` names the rows for the
    caches): the rows' description, leakage warnings, metrics with bootstrap intervals,
    curves, parameter diff and decision diff. None when it cannot be computed (the error
    is shown)."""
    st.markdown(describe_evaluation(evaluation))
    if len(evaluation.rejected):
        st.warning(
            f"{count_text(len(evaluation.rejected), 'row')} of the file "
            f"{noun_for(len(evaluation.rejected), 'was', 'were')} rejected and left out.",
            icon=":material/warning:",
        )
    for version in chosen:
        checks = safe(leakage, settings, key, evaluation, version)
        if checks is not None and checks.leakage is not None:
            st.warning(
                f"Leakage: {checks.leakage.reason}. Its metrics here are optimistic, and the "
                "AUPRC gate blocks its promotion on these rows.",
                icon=":material/warning:",
            )
        elif checks is not None and not checks.checkable:
            st.caption(
                f"Version {version}: leakage could not be checked (no training provenance "
                "stored: it was trained elsewhere, or before the workbench stored it)."
            )

    baseline = st.selectbox(
        "Baseline for the AUPRC differences",
        chosen,
        index=chosen.index(live) if live in chosen else 0,
    )
    result = safe(comparison, settings, key, evaluation, tuple(chosen), baseline)
    if result is None:
        return None

    weighted = st.toggle(
        "Curves weighted to the natural prevalence", value=evaluation.sampling_fraction < 1
    )
    st.dataframe(
        metrics_table(result), hide_index=True, width="stretch", column_config=metrics_config()
    )
    counts = counts_table(result, evaluation.labels)
    if len(counts):
        st.dataframe(
            counts,
            hide_index=True,
            width="stretch",
            column_config={"threshold": st.column_config.NumberColumn(format="%.4f")},
        )
    st.caption(
        f"ΔAUPRC: each version minus version {result.baseline}, with a paired bootstrap 95% "
        f"interval ({count_text(result.resamples, 'resample')} of the same rows, "
        f"seed {result.seed}). "
        "Alerts / 10k: the expected review queue per 10,000 transactions at each version's "
        "threshold."
    )
    render_curves(result, weighted=weighted)

    with st.expander("Parameters"):
        only = st.toggle("Differences only", value=True)
        params = safe(parameters, settings, tuple(chosen), only)
        if params is not None:
            st.dataframe(params, width="stretch")

    render_decision_diff(settings, result)
    return result
