"""Scoring a file: validated, scored, explained (alerts only) and audited chunk by chunk."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from core.audit import AuditReceipt, AuditStream, make_predictions_table
from core.auth import Action, Actor, require
from core.config import Settings
from core.data import iter_transactions
from core.data.loader import DEFAULT_CHUNK_ROWS, Source
from core.drift.counts import DriftCounts, count_rows
from core.drift.sketch import ReferenceSketch, get_reference_sketch
from core.errors import ExplanationUnavailableError
from core.explain import compute_reasons, reason_columns, reasons_to_json
from core.latency import compute_latency_histogram
from core.output import CsvSink, ParquetSink
from core.registry import LoadedModel, read_threshold
from core.schema import FEATURES, INVALID_LABEL, LABEL
from core.scoring.base import (
    DECISION,
    ID_COLUMNS,
    MODEL_VERSION,
    PROBABILITY,
    REASON_COLUMNS,
    ModelChoice,
    Progress,
    SourceKind,
    event_header,
    score_features,
    transaction_ids,
)

log = logging.getLogger(__name__)

REJECTED_KEPT = 1_000
"""Rejected rows kept in memory (:attr:`BatchResult.rejected`) when they are streamed to a
file: the first ones, to show; all of them are in the file."""


@dataclass
class BatchResult:
    """The outcome of scoring a file. ``scored`` is None when it was streamed to disk; then
    ``rejected`` holds only the first :data:`REJECTED_KEPT` rejected rows (all of them are
    in the rejected-rows file) and ``rows_rejected`` counts them all."""

    rows_in: int
    rows_scored: int
    rejected: pd.DataFrame
    rows_rejected: int
    alerts: int
    amount_at_risk: float
    model_label: str
    model_version: int
    threshold: float
    seconds: float
    audit: AuditReceipt
    scored: pd.DataFrame | None = None
    warnings: tuple[str, ...] = ()

    @property
    def alert_rate(self) -> float:
        return self.alerts / self.rows_scored if self.rows_scored else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "scored": self.rows_scored,
            "rejected": self.rows_rejected,
            "alerts": self.alerts,
            "model_version": self.model_version,
            "seconds": round(self.seconds, 3),
        }


def result_columns(scored: pd.DataFrame) -> list[str]:
    """The transaction id (if any) and the columns scoring added, in reading order."""
    ids = [name for name in ID_COLUMNS if name in scored.columns][:1]
    return [*ids, PROBABILITY, DECISION, *REASON_COLUMNS, MODEL_VERSION]


def estimate_rows(source: Source) -> int:
    """Rough data-row count (newlines minus the header) for progress; 0 when unknown.

    Never moves a file object's position: it may be mid-read by the loader.
    """
    if isinstance(source, str | Path):
        count = 0
        with Path(source).open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                count += block.count(b"\n")
        return max(count - 1, 1)
    if hasattr(source, "getvalue"):  # BytesIO and Streamlit uploads
        return max(source.getvalue().count(b"\n") - 1, 1)
    return 0


def score_file(
    source: Source,
    *,
    settings: Settings,
    choice: ModelChoice,
    source_kind: SourceKind,
    actor: Actor,
    input_name: str | None = None,
    out: Path | None = None,
    parquet_out: Path | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: Progress | None = None,
    threshold: float | None = None,
) -> BatchResult:
    """Validate, score and audit a transactions CSV, chunk by chunk.

    Args:
        source: a path or a binary file object (an upload).
        settings: where the audit log lives.
        choice: the model to score with (see :func:`resolve_model`).
        source_kind: ``ui``, ``cli`` or ``api``, for the audit log.
        actor: who asked (any role may score); named in the audit log.
        input_name: the file's name, for the audit log.
        out: stream scored rows to this CSV (and rejected rows to ``<out>.rejected.csv``)
            instead of keeping them in memory (only the first :data:`REJECTED_KEPT`
            rejected rows are kept, to show).
        parquet_out: stream scored rows to this Parquet file (and rejected rows to
            ``<parquet_out stem>.rejected.parquet``, as text) instead of keeping them in
            memory: the batch page's on-disk result. Not with ``out``.
        chunk_rows: rows per chunk; bounds memory use.
        progress: called with (fraction done, message).
        threshold: the version's threshold when the caller read the version a moment ago
            (the CLI, right after :func:`resolve_model`); by default it is read now. A
            caller that keeps a ``choice`` (the app) must not pass it: thresholds change.

    The audit event also stores the scored rows counted on the version's drift bins
    (``drift_counts``; none when the version has no drift reference or it cannot be read
    now: scoring goes on) and the call's wall time as one latency sample.

    Returns:
        Row accounting, alerts, the audit receipt and, unless ``out`` was given, the
        scored rows (original columns + ``fraud_probability``, ``decision``,
        ``model_version``, ``reason_1``..``reason_3`` for alerts) sorted by probability.

    Raises:
        PermissionDenied: the actor's role may not score.
        InputError: the file as a whole cannot be read (see ``core.data``).
        MissingThresholdError: the version has no valid threshold; nothing is scored.
        OutputError: ``out`` cannot be written; what was scored is still audited.
    """
    require(actor, Action.SCORE)
    start = time.perf_counter()
    report = progress or (lambda _f, _m: None)
    info = choice.model.info
    if threshold is None:
        threshold = read_threshold(settings, info)
    total: int | None = None  # counted once the file has passed its header checks
    header = event_header(choice, source_kind, actor.name, input_name, threshold=threshold)
    sketch = get_drift_sketch(settings, choice)
    drift: DriftCounts | None = None
    audit: AuditStream | None = None  # started with the first chunk: a file refused
    scored_parts: list[pd.DataFrame] = []
    # every rejected row without a sink; with one, they go to its file and only the first
    # REJECTED_KEPT stay here: a file of millions of bad rows must not fill the memory
    rejected_parts: list[pd.DataFrame] = []
    kept_rejected = 0
    rows_in = rows_scored = rows_rejected = alerts = 0
    amount_at_risk = 0.0
    warnings: tuple[str, ...] = ()
    # InputError before anything is written: a missing folder, or out over the input
    path = Path(source) if isinstance(source, str | Path) else None
    if out is not None and parquet_out is not None:
        raise ValueError("give out or parquet_out, not both")
    sink: CsvSink | ParquetSink | None = None
    if out is not None:
        sink = CsvSink(out, source=path)
    elif parquet_out is not None:
        sink = ParquetSink(parquet_out)
    complete = False  # the files are put in place only after the last chunk
    try:
        for chunk in iter_transactions(source, chunk_rows=chunk_rows):
            warnings = (*warnings, *(w for w in chunk.warnings if w not in warnings))
            features = chunk.valid.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
            probability, decision = score_features(choice.model, features, threshold=threshold)
            if sketch is not None:
                counted = count_drift(sketch, features, probability)
                if counted is None:  # stop counting: partial counts would misstate drift
                    sketch = drift = None
                else:
                    drift = counted if drift is None else drift + counted
            if total is None:
                total = estimate_rows(source) if progress else 0
            reason_text, reason_json, unexplained = _explain_alerts(
                choice.model, features, decision
            )
            if unexplained and unexplained not in warnings:
                warnings = (*warnings, unexplained)
            audit = audit or AuditStream(settings, header)
            audit.add(
                make_predictions_table(
                    row_number=chunk.valid.index.to_numpy(),
                    transaction_id=transaction_ids(chunk.valid),
                    features=features,
                    probability=probability,
                    decision=decision,
                    reasons=reason_json,
                )
            )
            scored = chunk.valid.assign(
                **{PROBABILITY: probability, DECISION: decision, MODEL_VERSION: info.version},
                # typed as text even in a chunk without alerts, so every chunk's schema matches
                **{k: _text_column(v) for k, v in reason_text.items()},
            )
            if chunk.has_label:
                scored = _with_invalid_labels(scored, chunk.invalid_labels)
            rows_in += chunk.rows_in
            rows_scored += len(scored)
            alerts += int(decision.sum())
            amount_at_risk += float(chunk.valid["Amount"].to_numpy()[decision == 1].sum())
            rows_rejected += len(chunk.rejected)
            if sink is None or kept_rejected < REJECTED_KEPT:
                keep = (
                    chunk.rejected
                    if sink is None
                    else chunk.rejected.head(REJECTED_KEPT - kept_rejected)
                )
                rejected_parts.append(keep)
                kept_rejected += len(keep)
            if sink is not None:
                sink.write(scored.reset_index(), chunk.rejected)
            else:
                scored_parts.append(scored)
            report(min(rows_in / total, 0.99) if total else 0.5, f"Scored {rows_in:,} rows")
        complete = True
    finally:
        # After a failure midway (a parse error in a later chunk, a full disk) what was
        # scored is still audited, or spooled: those scores may have been seen and must
        # not vanish. A file refused before its first chunk started no audit record. The
        # audit record is kept first: scored rows are only put in place once it is, so no
        # delivered score lacks its record.
        rejected = (
            pd.concat(rejected_parts, ignore_index=True) if rejected_parts else pd.DataFrame()
        )
        audited = audit is None
        try:
            if audit is not None:
                report(0.99, "Writing the audit log")
                totals = {"rows_in": rows_in, "rows_scored": rows_scored, "alerts": alerts}
                latency = compute_latency_histogram([1000 * (time.perf_counter() - start)])
                final = replace(
                    header,
                    **totals,
                    rows_rejected=rows_rejected,
                    drift_counts=drift.to_json() if drift is not None else None,
                    latency_ms=latency.to_json(),
                )
                receipt = audit.finish(final)
                audited = True
        finally:
            if sink is not None:
                # raises OutputError if a chunk could not be written or put in place
                sink.close(keep=complete and audited)
    scored_frame = None
    if sink is None:
        scored_frame = (
            pd.concat(scored_parts)
            .sort_values(PROBABILITY, ascending=False, kind="stable")
            .reset_index()
        )
    report(1.0, f"Scored {rows_scored:,} of {rows_in:,} rows")
    return BatchResult(
        rows_in=rows_in,
        rows_scored=rows_scored,
        rejected=rejected,
        rows_rejected=rows_rejected,
        alerts=alerts,
        amount_at_risk=amount_at_risk,
        model_label=choice.label,
        model_version=info.version,
        threshold=threshold,
        seconds=time.perf_counter() - start,
        audit=receipt,
        scored=scored_frame,
        warnings=warnings,
    )


def get_drift_sketch(settings: Settings, choice: ModelChoice) -> ReferenceSketch | None:
    """The version's drift reference for counting scored rows, or None: without one (or
    when the stores fail now) rows are scored all the same, without drift counts.

    Any error is caught, not only a store failure: an unreadable sketch or a test split
    that cannot give one must not stop scoring either."""
    try:
        return get_reference_sketch(settings, choice.model.info)
    except Exception as exc:  # whatever went wrong, the rows are still scored and audited
        log.warning("scoring without drift counts: the drift reference is unavailable: %s", exc)
        return None


def count_drift(
    sketch: ReferenceSketch, features: np.ndarray, probability: np.ndarray
) -> DriftCounts | None:
    """The rows on the sketch's bins, or None (logged) if counting fails: drift counts are
    a by-product of scoring and never stop it."""
    try:
        return count_rows(sketch, features, probability)
    except Exception as exc:
        log.warning("scoring without drift counts: counting failed: %s", exc)
        return None


def _text_column(values: list[str | None]) -> pd.api.extensions.ExtensionArray:
    """A text column built through Arrow: 10x faster than pandas' own for mostly-None lists."""
    return pd.array(pa.array(values, pa.string()), dtype=pd.StringDtype("pyarrow"))


def _with_invalid_labels(scored: pd.DataFrame, invalid: pd.Series | None) -> pd.DataFrame:
    """``Class_invalid`` right after ``Class``: a bad label's text (``x``, ``2``), empty
    elsewhere, so the scored rows show what the file said. In every chunk (the files'
    schema is the first chunk's); a column of that name in the file (a scored file uploaded
    again) is replaced, as the scoring columns are."""
    aligned = (invalid if invalid is not None else pd.Series(dtype="string")).reindex(scored.index)
    scored = scored.drop(columns=[INVALID_LABEL], errors="ignore")
    scored.insert(
        scored.columns.get_loc(LABEL) + 1,
        INVALID_LABEL,
        aligned.astype(pd.StringDtype("pyarrow")),
    )
    return scored


def _explain_alerts(
    model: LoadedModel, features: np.ndarray, decision: np.ndarray
) -> tuple[dict[str, list[str | None]], list[str | None], str | None]:
    """Reason codes for the alerts only (a small share of rows), as columns and as JSON,
    and why there are none when the version cannot be explained (scoring goes on)."""
    alerts = np.flatnonzero(decision)
    text: dict[str, list[str | None]] = {name: [None] * len(decision) for name in REASON_COLUMNS}
    as_json: list[str | None] = [None] * len(decision)
    if len(alerts):
        try:
            contributions = model.contributions(features[alerts])
        except ExplanationUnavailableError as exc:
            return text, as_json, f"alerts have no reasons: {exc}"
        reasons = compute_reasons(contributions, features[alerts])
        for name, values in reason_columns(reasons).items():
            for i, value in zip(alerts, values, strict=True):
                text[name][i] = value
        for i, row_reasons in zip(alerts, reasons, strict=True):
            as_json[i] = reasons_to_json(row_reasons)
    return text, as_json, None
