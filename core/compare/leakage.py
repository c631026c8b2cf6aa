"""The leakage guard: evaluation rows must not overlap a version's training data.

A version judged on rows it was trained on looks better than it is, and a promotion gate
fed that number passes a model it should block. Checks, strongest first:

1. **Shared rows**: an evaluation row whose model inputs hash like a training row (the
   audit log's input hash; training stores its rows' hashes, ``core.training.provenance``).
2. **Same data, overlapping time**: the evaluation comes from the file the version was
   trained on (same SHA-256) and its ``Time`` range overlaps the training rows'; or it *is*
   that file, uploaded again.

Versions trained before the provenance was stored, or elsewhere, are checked with what
they have; with nothing stored, nothing can be checked. :func:`run_leakage_checks` says
which checks were made (``LeakageCheck.checkable``), so "no overlap found" is never
claimed for a version that could not be checked; :func:`check_leakage` gives the overlap
alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from mlflow.exceptions import MlflowException
from sklearn.metrics import average_precision_score

from core.artifacts import download_artifact
from core.compare.compare import score_evaluation
from core.compare.evaluation import Evaluation
from core.compare.prevalence import prevalence_weights
from core.config import Settings
from core.errors import NotFoundError
from core.registry import TAG_DATA_SHA256, ModelVersionInfo, get_version
from core.tracking import backend_errors, get_client
from core.training.provenance import (
    HASH_COLUMN,
    PARAM_TIME_MAX,
    PARAM_TIME_MIN,
    ROW_HASHES_ARTIFACT,
)


@dataclass(frozen=True)
class Leakage:
    """Why the evaluation rows overlap a version's training data.

    Attributes:
        version: the version whose training data they overlap.
        kind: ``shared_rows`` (inputs identical to training rows) or ``same_data`` (the
            same file, overlapping in time).
        reason: one sentence for people; the AUPRC gate fails with it.
        shared_rows: how many evaluation rows are training rows (``shared_rows`` only).
    """

    version: int
    kind: Literal["shared_rows", "same_data"]
    reason: str
    shared_rows: int | None = None


@dataclass(frozen=True)
class LeakageCheck:
    """What the leakage guard could check for one version, and what it found.

    Attributes:
        leakage: the overlap found, or None.
        checked: the checks that could be made (``shared_rows``: the training rows'
            hashes are stored; ``same_data``: the training file's hash, and for a test
            split its Time range, are); empty when nothing is stored to check against.
    """

    leakage: Leakage | None
    checked: tuple[Literal["shared_rows", "same_data"], ...] = ()

    @property
    def checkable(self) -> bool:
        """Whether any check could be made: else None in ``leakage`` means "unknown"."""
        return bool(self.checked)


def _info(settings: Settings, version: int | ModelVersionInfo) -> ModelVersionInfo:
    if isinstance(version, ModelVersionInfo):
        return version
    return get_version(settings, int(version), with_metrics=False)


def _training_hashes(settings: Settings, run_id: str) -> pd.Series | None:
    if not run_id:
        return None
    try:
        path = download_artifact(settings, run_id, ROW_HASHES_ARTIFACT)
    except NotFoundError:  # trained before hashes were stored, or elsewhere
        return None
    return pd.read_parquet(path)[HASH_COLUMN]


def _shared_rows(rows: pd.Series, trained_on: pd.Series) -> int:
    """How many of ``rows`` (input hashes) are in ``trained_on``.

    Arrow's hash-set ``is_in``: pandas' ``isin`` on Arrow-backed strings loops in Python
    (1.2 s for 57,000 against 150,000 hashes, against 0.05 s here).
    """
    found = pc.is_in(
        pa.array(rows).cast(pa.large_string()),
        value_set=pa.array(trained_on).cast(pa.large_string()),
    )
    return int(pc.sum(found).as_py() or 0)


def _time_range(settings: Settings, run_id: str) -> tuple[float, float] | None:
    if not run_id:
        return None
    try:
        params = get_client(settings).get_run(run_id).data.params
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return None
        raise
    try:
        return float(params[PARAM_TIME_MIN]), float(params[PARAM_TIME_MAX])
    except (KeyError, ValueError):
        return None


@backend_errors("checking the evaluation data against the training data")
def check_leakage(
    settings: Settings, evaluation: Evaluation, version: int | ModelVersionInfo
) -> Leakage | None:
    """Whether the evaluation rows overlap the version's training data.

    Args:
        settings: where the registry and artifacts are.
        evaluation: the rows the version is to be judged on.
        version: the version (number or registry info).

    Returns:
        The overlap and its reason, or None when none was found, including when nothing
        could be checked (:func:`run_leakage_checks` tells the two apart).

    Raises:
        NotFoundError: no such version.
        BackendError: the registry or the artifact store cannot be reached.
    """
    return run_leakage_checks(settings, evaluation, version).leakage


@backend_errors("checking the evaluation data against the training data")
def run_leakage_checks(
    settings: Settings, evaluation: Evaluation, version: int | ModelVersionInfo
) -> LeakageCheck:
    """The leakage checks the version's stored provenance allows, and what they found.

    Args:
        settings: where the registry and artifacts are.
        evaluation: the rows the version is to be judged on.
        version: the version (number or registry info).

    Returns:
        The overlap (or None) and the checks that could be made; no check at all for a
        version with no training-row hashes and no data hash (trained elsewhere, or
        before they were stored).

    Raises:
        NotFoundError: no such version.
        BackendError: the registry or the artifact store cannot be reached.
    """
    info = _info(settings, version)
    who = f"{info.name} version {info.version}"
    checked: list[Literal["shared_rows", "same_data"]] = []
    trained_on = _training_hashes(settings, info.run_id)
    if trained_on is not None:
        checked.append("shared_rows")
        shared = _shared_rows(evaluation.row_hashes, trained_on)
        if shared:
            leak = Leakage(
                version=info.version,
                kind="shared_rows",
                reason=(
                    f"{shared:,} of the {evaluation.rows:,} rows of {evaluation.name} are "
                    f"rows {who} was trained on (identical model inputs)"
                ),
                shared_rows=shared,
            )
            return LeakageCheck(leak, tuple(checked))
    data_hash = info.tags.get(TAG_DATA_SHA256)
    if data_hash is None:
        return LeakageCheck(None, tuple(checked))
    if data_hash != evaluation.data_sha256:
        return LeakageCheck(None, (*checked, "same_data"))
    if evaluation.source_version is None:
        reason = f"{evaluation.name} is the file {who} was trained on (same SHA-256)"
        leak = Leakage(version=info.version, kind="same_data", reason=reason)
        return LeakageCheck(leak, (*checked, "same_data"))
    trained = _time_range(settings, info.run_id)
    if trained is None:  # the same file, but which of its rows were trained on is unknown
        return LeakageCheck(None, tuple(checked))
    start, end = trained
    if evaluation.time_min < end and start < evaluation.time_max:  # touching is not overlap
        leak = Leakage(
            version=info.version,
            kind="same_data",
            reason=(
                f"{evaluation.name} comes from the file {who} was trained on and its Time "
                f"range {evaluation.time_min:g}-{evaluation.time_max:g} overlaps the "
                f"training rows' {start:g}-{end:g}"
            ),
        )
        return LeakageCheck(leak, (*checked, "same_data"))
    return LeakageCheck(None, (*checked, "same_data"))


def auprc_evidence(
    settings: Settings,
    *,
    candidate: int | ModelVersionInfo,
    current: int | ModelVersionInfo,
    evaluation: Evaluation,
) -> dict[str, Any]:
    """What the promotion gate's AUPRC check needs, computed on ``evaluation``.

    The AUPRCs are weighted to the natural prevalence (the same as raw when the sampling
    fraction is 1), and the candidate is checked for leakage.

    Args:
        settings: where the registry and artifacts are.
        candidate: the version to promote.
        current: the version the alias points at now.
        evaluation: the rows both are judged on.

    Returns:
        ``candidate_auprc``, ``current_auprc``, ``evaluation_name``, ``rows``, ``frauds``,
        ``weighted`` (whether the sampling fraction is below 1), ``leakage`` (the
        reason text, or None) and ``leakage_checked`` (False when the candidate has no
        provenance to check against): the fields of the lifecycle's ``AuprcEvidence``.

    Raises:
        NotFoundError: no such version.
        RefusedError: a model cannot be loaded safely.
        BackendError: the registry or the artifact store cannot be reached.
    """
    candidate_info, current_info = _info(settings, candidate), _info(settings, current)
    weights = prevalence_weights(evaluation.labels, sampling_fraction=evaluation.sampling_fraction)

    def auprc(info: ModelVersionInfo) -> float:
        proba = score_evaluation(settings, info, evaluation)
        return float(average_precision_score(evaluation.labels, proba, sample_weight=weights))

    leakage = run_leakage_checks(settings, evaluation, candidate_info)
    return {
        "candidate_auprc": auprc(candidate_info),
        "current_auprc": auprc(current_info),
        "evaluation_name": evaluation.name,
        "rows": evaluation.rows,
        "frauds": evaluation.frauds,
        "weighted": evaluation.sampling_fraction < 1.0,
        "leakage": None if leakage.leakage is None else leakage.leakage.reason,
        "leakage_checked": leakage.checkable,
    }
