"""Which data a version's numbers came from, and its counts at the threshold: shown on Home,
in the versions tables and on the compare page.

Core gives the records (``core.provenance``, ``core.operating``); this module
formats them, caches the test-split scoring per version, and draws the figures.
"""

from __future__ import annotations

import streamlit as st

from app.ui.format import escape_markdown, format_time
from app.ui.home_charts import confusion_spec, pr_curve_spec
from core.config import Settings
from core.confusion import ConfusionCounts
from core.errors import NotFoundError, WorkbenchError
from core.operating import OperatingPoint, get_operating_point
from core.provenance import DataProvenance
from core.registry import ModelVersionInfo, format_threshold, get_version
from core.schema import UNKNOWN, count_text, rate_text

SYNTHETIC_BADGE = "Synthetic demo data"
SYNTHETIC_WARNING = (
    "Trained and tested on generated data: its AUPRC says how well it separates the "
    "generator's frauds, not real ones, and is not comparable with a version tested on a "
    "real sample."
)


def origin_text(provenance: DataProvenance) -> str:
    return {True: "synthetic", False: "real"}.get(provenance.synthetic, UNKNOWN)  # type: ignore[arg-type]


def provenance_line(provenance: DataProvenance) -> str:
    """One markdown line: the data's name, rows, fraud rate, and the test split's counts."""
    name = UNKNOWN if provenance.dataset is None else f"**{escape_markdown(provenance.dataset)}**"
    text = (
        f"Data: {name}, {count_text(provenance.rows, 'row')}, "
        f"{count_text(provenance.frauds, 'fraud')} ({rate_text(provenance.fraud_rate)} fraud)"
    )
    fraction = provenance.sampling_fraction
    if fraction is not None and fraction < 1 and provenance.natural_fraud_rate is not None:
        text += f", about {rate_text(provenance.natural_fraud_rate)} at the natural prevalence"
    return (
        text + f"; test split {count_text(provenance.test_rows, 'row')} with "
        f"{count_text(provenance.test_frauds, 'fraud')} (the rows behind every test metric)."
    )


def render_provenance(provenance: DataProvenance) -> None:
    """The provenance line, with the synthetic-data badge and warning where it applies."""
    if provenance.synthetic:
        st.badge(SYNTHETIC_BADGE, icon=":material/science:", color="orange")
    st.markdown(provenance_line(provenance))
    if provenance.synthetic:
        st.caption(SYNTHETIC_WARNING)
    elif provenance.synthetic is None:
        st.caption(
            "Whether the data was synthetic is unknown: the version was trained before it "
            "was recorded, or outside the workbench."
        )


def provenance_columns(provenance: DataProvenance) -> dict[str, object]:
    """Table cells for a versions table (text, so unknown reads "unknown", not blank)."""
    return {
        "data": (
            UNKNOWN
            if provenance.dataset is None
            else provenance.dataset + (" (synthetic demo data)" if provenance.synthetic else "")
        ),
        "origin": origin_text(provenance),
        "rows": count_text(provenance.rows),
        "fraud rate": rate_text(provenance.fraud_rate),
        "test rows": count_text(provenance.test_rows),
        "test frauds": count_text(provenance.test_frauds),
    }


def render_origin_notes(provenances: list[DataProvenance]) -> None:
    """Above a versions table: the synthetic-data badge naming the synthetic versions, and
    a warning when they sit beside versions trained on real data."""
    synthetic = [str(p.version) for p in provenances if p.synthetic]
    if not synthetic:
        return
    st.badge(
        f"{SYNTHETIC_BADGE}: version {', '.join(synthetic)}",
        icon=":material/science:",
        color="orange",
    )
    if any(p.synthetic is False for p in provenances):
        which, were, their = (
            (f"Version {synthetic[0]}", "was", "its")
            if len(synthetic) == 1
            else (f"Versions {', '.join(synthetic)}", "were", "their")
        )
        st.warning(
            f"{which} {were} trained and tested on synthetic demo data: {their} stored "
            "AUPRC is not comparable with that of versions tested on a real sample. To "
            "compare them on the same rows, choose them under Versions to compare "
            "(Compare versions).",
            icon=":material/science:",
        )


@st.cache_data(ttl=600, max_entries=16, show_spinner="Scoring the test split...")
def operating_point(settings: Settings, version: int, threshold: float | None) -> OperatingPoint:
    """A version on its test split at ``threshold`` (its threshold now: keys the cache)."""
    info = get_version(settings, version)
    return get_operating_point(settings, info)


def rates_text(counts: ConfusionCounts) -> str:
    """The rates with the counts behind each: ``recall 0.820 (41 of 50 frauds)``."""

    def rate(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    return (
        f"At threshold {format_threshold(counts.threshold)}: recall {rate(counts.recall)} "
        f"({counts.tp:,} of {count_text(counts.frauds, 'fraud')}), precision "
        f"{rate(counts.precision)} ({counts.tp:,} of {count_text(counts.alerts, 'alert')}), "
        f"false-positive rate {rate(counts.false_positive_rate)} ({counts.fp:,} of "
        f"{count_text(counts.legitimate, 'legitimate row')})."
    )


def prevalence_note(counts: ConfusionCounts, sampling_fraction: float | None) -> str | None:
    """For a version trained on down-sampled data: what its counts become at the natural
    prevalence (each legitimate row stands for 1/F), since precision falls a lot."""
    if sampling_fraction is None or sampling_fraction >= 1.0:
        return None
    false_alarms = counts.fp / sampling_fraction
    alerts = counts.tp + false_alarms
    precision = "n/a" if alerts == 0 else f"{counts.tp / alerts:.3f}"
    return (
        f"These counts are on the test split as sampled (legitimate rows kept at "
        f"{sampling_fraction:.4g}). At the natural prevalence each legitimate row stands for "
        f"{1 / sampling_fraction:.1f}: about {count_text(round(false_alarms), 'false alarm')} "
        f"for {count_text(counts.tp, 'fraud')} caught, precision {precision}; recall and the "
        "false-positive rate are unchanged."
    )


def render_operating_point(point: OperatingPoint) -> None:
    """The confusion matrix beside the PR curve, and the rates with their counts (Vega-Lite:
    see ``app.ui.home_charts``)."""
    counts = point.confusion
    if counts is None:
        st.caption("No valid decision threshold: no confusion matrix, the curve only.")
        st.vega_lite_chart(spec=pr_curve_spec(point), width="stretch")
        return
    st.markdown(rates_text(counts))
    note = prevalence_note(counts, point.provenance.sampling_fraction)
    if note:
        st.caption(note)
    left, right = st.columns(2)
    left.markdown("**Confusion matrix** (test split, threshold now)")
    left.vega_lite_chart(spec=confusion_spec(counts), width="stretch")
    right.markdown("**Precision-recall** (diamond: the threshold)")
    right.vega_lite_chart(spec=pr_curve_spec(point), width="stretch")


def load_live_point(
    settings: Settings, live: ModelVersionInfo
) -> tuple[OperatingPoint | None, str | None]:
    """The live version on its test split at its threshold now, or (None, why not)."""
    try:
        return operating_point(settings, live.version, live.threshold), None
    except NotFoundError:
        return None, "No test split is stored with this version (trained elsewhere)."
    except WorkbenchError as exc:
        return None, f"The counts cannot be shown: {exc}"


def render_live_counts(point: OperatingPoint | None, problem: str | None) -> None:
    """Home's counts for the live version: the confusion matrix, PR curve and rates."""
    st.markdown("**At the decision threshold, on the test split**")
    if point is None:
        st.caption(problem or "")
        return
    render_operating_point(point)


HOME_METRICS = (("auprc", "AUPRC"), ("precision", "Precision"), ("recall", "Recall"))


def home_version_record(info: ModelVersionInfo, provenance: DataProvenance) -> dict[str, object]:
    """One row of Home's versions table: data provenance beside raw and weighted metrics."""
    record: dict[str, object] = {
        "Version": info.version,
        "Aliases": ", ".join(info.aliases),
        "Kind": info.model_kind,
    }
    record.update({k.capitalize(): v for k, v in provenance_columns(provenance).items()})
    for key, label in HOME_METRICS:
        record[label] = info.metrics.get(key)
        record[f"{label} (weighted)"] = info.metrics.get(f"weighted_{key}")
    record["ROC-AUC"] = info.metrics.get("roc_auc")
    record["Sampling fraction"] = info.sampling_fraction
    record["Threshold"] = info.threshold
    record["Created"] = format_time(info.created_at)
    return record


def home_version_config() -> dict[str, object]:
    weighted_help = "At the natural prevalence (legitimate rows weighted by 1 / sampling fraction)"
    raw_help = "Raw: on the test split as it is"
    config: dict[str, object] = {
        "ROC-AUC": st.column_config.NumberColumn(format="%.4f"),
        "Threshold": st.column_config.NumberColumn(format="%.4f"),
        "Sampling fraction": st.column_config.NumberColumn(format="%.4g"),
    }
    for _, label in HOME_METRICS:
        config[label] = st.column_config.NumberColumn(format="%.4f", help=raw_help)
        config[f"{label} (weighted)"] = st.column_config.NumberColumn(
            format="%.4f", help=weighted_help
        )
    return config
