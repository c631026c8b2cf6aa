"""Compare registered versions on one evaluation set: metrics raw and weighted, curves,
each version's operating point, AUPRC differences with a paired bootstrap interval, and the
rows on which their decisions differ.

Loading lives here; the maths is in ``prevalence`` and ``bootstrap`` (arrays in, arrays out).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.compare.bootstrap import Interval, paired_bootstrap_differences
from core.compare.evaluation import Evaluation
from core.compare.prevalence import (
    CalibrationCurve,
    PrCurve,
    PrevalenceMetrics,
    compute_calibration,
    compute_pr_curve,
    compute_prevalence_metrics,
    max_f1_threshold,
    prevalence_weights,
)
from core.config import Settings
from core.errors import InputError
from core.registry import ModelVersionInfo, get_alias_version, get_version, load_model
from core.schema import LABEL, ROW

_SCORES: OrderedDict[tuple[str, str, int, str], np.ndarray] = OrderedDict()
_SCORES_LOCK = threading.Lock()
SCORE_CACHE_SIZE = 32
"""Score arrays kept (least recently used dropped): one per version and evaluation set."""


def score_evaluation(
    settings: Settings, info: ModelVersionInfo, evaluation: Evaluation
) -> np.ndarray:
    """A version's fraud probabilities on the evaluation rows, computed once per pair.

    The model is loaded once per version (``core.registry.load_model``); its scores on a
    given set of rows never change (a version's artifact is immutable), so they are kept
    by (tracking store, name, version, rows' fingerprint). Thresholds are never cached.

    Raises:
        NotFoundError: no such version.
        RefusedError: the model cannot be loaded safely.
        BackendError: the artifacts cannot be fetched.
    """
    key = (str(settings.tracking_uri), info.name, info.version, evaluation.fingerprint)
    with _SCORES_LOCK:
        cached = _SCORES.get(key)
        if cached is not None:
            _SCORES.move_to_end(key)
            return cached
    scores = load_model(settings, info).predict_proba(evaluation.features())
    scores.setflags(write=False)  # shared between callers
    with _SCORES_LOCK:
        _SCORES[key] = scores
        while len(_SCORES) > SCORE_CACHE_SIZE:
            _SCORES.popitem(last=False)
    return scores


def clear_score_cache() -> None:
    """Forget every cached score array (benchmarks time scoring with it)."""
    with _SCORES_LOCK:
        _SCORES.clear()


@dataclass(frozen=True)
class VersionComparison:
    """One version on the evaluation rows.

    Attributes:
        info: the version as the registry describes it.
        threshold: its decision threshold; None for a version without one, whose
            threshold-dependent values are None too.
        suggest_threshold: for a version without a threshold, the evaluation data's
            max-F1 threshold (the rule training uses on validation); else None.
        metrics: raw and weighted metrics; at ``threshold``: precision, recall, F1 and
            the expected alerts per 10,000 transactions.
        pr_curve, pr_curve_weighted: precision-recall curves, raw and weighted.
        calibration, calibration_weighted: calibration curves, raw and weighted.
        probability: fraud probability per evaluation row.
        auprc_difference, weighted_auprc_difference: AUPRC minus the baseline's, with a
            paired bootstrap interval; None for the baseline.
    """

    info: ModelVersionInfo
    threshold: float | None
    suggest_threshold: float | None
    metrics: PrevalenceMetrics
    pr_curve: PrCurve
    pr_curve_weighted: PrCurve
    calibration: CalibrationCurve
    calibration_weighted: CalibrationCurve
    probability: np.ndarray
    auprc_difference: Interval | None
    weighted_auprc_difference: Interval | None

    @property
    def version(self) -> int:
        return self.info.version

    @property
    def decision(self) -> np.ndarray | None:
        """0/1 decision per row at the version's threshold, None without one."""
        if self.threshold is None:
            return None
        return (self.probability >= self.threshold).astype(np.int8)


@dataclass(frozen=True)
class Comparison:
    """Versions compared on the same evaluation rows.

    Attributes:
        evaluation_name, rows, frauds, sampling_fraction: the evaluation data.
        baseline: the version the AUPRC differences are taken against.
        versions: one comparison per version, in the order asked.
        decision_diff: the rows on which the versions with a threshold decide differently
            (row, Time, Amount, Class, then each version's probability and decision).
        resamples, seed: the bootstrap's.
    """

    evaluation_name: str
    rows: int
    frauds: int
    sampling_fraction: float
    baseline: int
    versions: tuple[VersionComparison, ...]
    decision_diff: pd.DataFrame
    resamples: int
    seed: int

    def decision_diff_csv(self) -> bytes:
        """The decision diff as UTF-8 CSV bytes, for a download."""
        buffer = io.StringIO()
        self.decision_diff.to_csv(buffer, index=False)
        return buffer.getvalue().encode("utf-8")


def _decision_diff(evaluation: Evaluation, compared: Sequence[VersionComparison]) -> pd.DataFrame:
    frame = evaluation.frame
    rows = frame.index.to_numpy() if frame.index.name == ROW else np.arange(1, len(frame) + 1)
    table = pd.DataFrame(
        {
            ROW: rows,
            "Time": frame["Time"].to_numpy(),
            "Amount": frame["Amount"].to_numpy(),
            LABEL: evaluation.labels,
        }
    )
    deciding = [c for c in compared if c.decision is not None]
    for c in deciding:
        table[f"probability_v{c.version}"] = c.probability
        table[f"decision_v{c.version}"] = c.decision
    if len(deciding) < 2:
        return table.iloc[0:0].reset_index(drop=True)
    decisions = np.stack([c.decision for c in deciding])  # type: ignore[misc]
    differs = decisions.min(axis=0) != decisions.max(axis=0)
    return table.loc[differs].reset_index(drop=True)


def compare_versions(
    settings: Settings,
    evaluation: Evaluation,
    versions: Sequence[int],
    *,
    baseline: int | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> Comparison:
    """Score each version on the evaluation rows and compare them.

    Args:
        settings: where the registry and artifacts are.
        evaluation: the rows (see :func:`core.compare.load_evaluation`).
        versions: the versions to compare (duplicates ignored).
        baseline: the version the others' AUPRC is compared with; by default the live
            version when it is among them, else the first.
        resamples: paired bootstrap resamples for the AUPRC intervals (at least 1).
        seed: the bootstrap's random seed.

    Returns:
        Per version: metrics, curves, operating point, AUPRC difference; and the
        decision diff.

    Raises:
        InputError: no versions, a baseline not among them, or resamples below 1.
        NotFoundError: no such version.
        RefusedError: a model cannot be loaded safely.
        BackendError: the registry or the artifact store cannot be reached.
    """
    chosen = list(dict.fromkeys(int(v) for v in versions))
    if not chosen:
        raise InputError("choose at least one version to compare")
    if resamples < 1:
        raise InputError(f"resamples must be at least 1, not {resamples}")
    if baseline is None:
        live = get_alias_version(settings, settings.live_alias)
        baseline = live if live in chosen else chosen[0]
    if baseline not in chosen:
        raise InputError(f"the baseline version {baseline} is not among {chosen}")
    infos = [get_version(settings, v, with_metrics=False) for v in chosen]
    scores = [score_evaluation(settings, info, evaluation) for info in infos]
    labels = evaluation.labels
    weights = prevalence_weights(labels, sampling_fraction=evaluation.sampling_fraction)
    ones = np.ones(len(labels))
    intervals = paired_bootstrap_differences(
        labels,
        scores,
        baseline=chosen.index(baseline),
        legit_weights=(1.0, 1.0 / evaluation.sampling_fraction),
        resamples=resamples,
        seed=seed,
    )
    compared = tuple(
        VersionComparison(
            info=info,
            threshold=info.threshold,
            suggest_threshold=None if info.threshold is not None else max_f1_threshold(labels, p),
            metrics=compute_prevalence_metrics(
                labels,
                p,
                threshold=info.threshold,
                sampling_fraction=evaluation.sampling_fraction,
            ),
            pr_curve=compute_pr_curve(labels, p, weights=ones),
            pr_curve_weighted=compute_pr_curve(labels, p, weights=weights),
            calibration=compute_calibration(labels, p, weights=ones),
            calibration_weighted=compute_calibration(labels, p, weights=weights),
            probability=p,
            auprc_difference=intervals[0][i],
            weighted_auprc_difference=intervals[1][i],
        )
        for i, (info, p) in enumerate(zip(infos, scores, strict=True))
    )
    return Comparison(
        evaluation_name=evaluation.name,
        rows=evaluation.rows,
        frauds=evaluation.frauds,
        sampling_fraction=evaluation.sampling_fraction,
        baseline=baseline,
        versions=compared,
        decision_diff=_decision_diff(evaluation, compared),
        resamples=resamples,
        seed=seed,
    )
