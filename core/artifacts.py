"""Run and model artifacts: download them, store and fetch global explanations, and store
drift reports.

A failed download is never taken for a missing artifact. Only an artifact that a
successful listing of its folder shows to be absent is :class:`NotFoundError`; an
unreachable store (S3 down, tracking server down, bad credentials) is :class:`BackendError`,
so callers never recompute and overwrite something that is there but could not be read.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException

from core.auth import Action, Actor, require
from core.config import Settings, show_url
from core.errors import BackendError, NotFoundError
from core.explain import GlobalExplanation, compute_global
from core.reference import ReferenceStats
from core.reliability import ReliabilityReport
from core.tracking import get_client, point_mlflow

if TYPE_CHECKING:
    from core.registry import LoadedModel

log = logging.getLogger(__name__)

GLOBAL_ARTIFACT = "explain/global.parquet"
REFERENCE_ARTIFACT = "reference/feature_stats.json"
TEST_SPLIT_ARTIFACT = "data/test.parquet"
TEST_SCORES_ARTIFACT = "data/test_scores.parquet"
"""The version's probability for each test-split row, in the split's order, as trained."""
TEST_SCORES_COLUMN = "fraud_probability"
RELIABILITY_ARTIFACT = "calibration/reliability.json"
"""Brier before / after calibration and the reliability curves (``core.reliability``)."""
DRIFT_REPORTS = "reports"
"""The run folder drift reports are stored in (``reports/drift-<UTC time>.html``)."""


def _missing(exc: MlflowException) -> bool:
    return exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")


def _where(settings: Settings) -> str:
    return show_url(str(settings.artifact_root))


def artifact_exists(settings: Settings, run_id: str, path: str) -> bool:
    """Whether ``path`` is among the run's artifacts, by listing its folder.

    Raises:
        NotFoundError: no such run.
        BackendError: the tracking or artifact store cannot be reached.
    """
    parent = str(PurePosixPath(path).parent)
    try:
        listed = get_client(settings).list_artifacts(run_id, None if parent == "." else parent)
    except MlflowException as exc:
        if _missing(exc):
            raise NotFoundError(f"run {run_id}: {exc.message}") from exc
        raise BackendError(f"listing artifacts of run {run_id}: {exc.message}") from exc
    except Exception as exc:  # boto3, requests and OS errors alike: the store did not answer
        raise BackendError(
            f"listing artifacts of run {run_id} on {_where(settings)} failed: {exc}"
        ) from exc
    return any(item.path == path and not item.is_dir for item in listed)


def download_artifact(settings: Settings, run_id: str, path: str, dst: Path | None = None) -> str:
    """Download one run artifact to a local path (a temporary one unless ``dst``).

    Returns:
        The local path of the file.

    Raises:
        NotFoundError: the artifact (or the run) does not exist.
        BackendError: the artifact exists, or cannot be checked, but could not be fetched.
    """
    point_mlflow(settings)
    failure: Exception | None = None
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=path, dst_path=str(dst) if dst else None
        )
        if Path(local).is_file():
            return local
    except Exception as exc:  # classified below by listing, whatever raised it
        failure = exc
    try:
        exists = artifact_exists(settings, run_id, path)
    except BackendError as exc:  # neither fetched nor listed: the store is not answering
        raise BackendError(
            f"artifact {path} of run {run_id} could not be fetched from {_where(settings)}: "
            f"{failure or exc}"
        ) from exc
    if not exists:
        raise NotFoundError(f"run {run_id} has no artifact {path}")
    raise BackendError(
        f"artifact {path} of run {run_id} exists but could not be fetched from "
        f"{_where(settings)}: {failure or 'not a file'}"
    ) from failure


def download_model(settings: Settings, name: str, version: int, dst: Path) -> Path:
    """Download a registered version's model folder (``MLmodel`` and the model file).

    Raises:
        NotFoundError: no such version.
        BackendError: the registry or the artifact store failed.
    """
    point_mlflow(settings)
    uri = f"models:/{name}/{version}"
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst)))
    except Exception as exc:  # classified below: only a missing version is "not found"
        failure = exc
    try:
        get_client(settings).get_model_version(name, str(version))
    except MlflowException as exc:
        if _missing(exc):
            raise NotFoundError(f"{name} version {version} does not exist") from exc
    raise BackendError(f"downloading {uri} from {_where(settings)} failed: {failure}") from failure


def get_reference(settings: Settings, run_id: str) -> ReferenceStats:
    """The training-feature statistics logged with a run (medians, quantile bins).

    Raises:
        NotFoundError: the run has no reference statistics.
        BackendError: the stores cannot be reached.
    """
    return ReferenceStats.from_json(
        Path(download_artifact(settings, run_id, REFERENCE_ARTIFACT)).read_text()
    )


def get_test_split(settings: Settings, run_id: str) -> pd.DataFrame:
    """The test split a run was evaluated on (features and ``Class``).

    Raises:
        NotFoundError: the run has no logged test split.
        BackendError: the stores cannot be reached.
    """
    return pd.read_parquet(download_artifact(settings, run_id, TEST_SPLIT_ARTIFACT))


def get_test_scores(settings: Settings, run_id: str) -> np.ndarray:
    """The probabilities training gave the test split's rows, in its order (float64).

    Raises:
        NotFoundError: the run logged none (trained before they were kept, or elsewhere).
        BackendError: the stores cannot be reached.
    """
    frame = pd.read_parquet(download_artifact(settings, run_id, TEST_SCORES_ARTIFACT))
    return frame[TEST_SCORES_COLUMN].to_numpy(dtype=np.float64)


def get_reliability(settings: Settings, run_id: str) -> ReliabilityReport:
    """The calibration report a run logged (Brier and reliability, before and after).

    Raises:
        NotFoundError: the run has none (trained before calibration, or elsewhere).
        BackendError: the stores cannot be reached, or the report cannot be read.
    """
    text = Path(download_artifact(settings, run_id, RELIABILITY_ARTIFACT)).read_text()
    try:
        return ReliabilityReport.from_json(text)
    except ValueError as exc:
        raise BackendError(f"run {run_id}: {RELIABILITY_ARTIFACT} is unreadable: {exc}") from exc


def load_global_explanation(settings: Settings, run_id: str) -> GlobalExplanation:
    """The global explanation stored with a run.

    Raises:
        NotFoundError: none is stored.
        BackendError: the stores cannot be reached.
    """
    return GlobalExplanation.from_frame(
        pd.read_parquet(download_artifact(settings, run_id, GLOBAL_ARTIFACT))
    )


def log_global_explanation(
    settings: Settings, run_id: str, explanation: GlobalExplanation, *, actor: Actor
) -> None:
    """Store a global explanation as an artifact of ``run_id`` (works on finished runs).

    Raises:
        PermissionDenied: the actor may not write into a run.
        BackendError: the artifact store cannot be written.
    """
    require(actor, Action.STORE_ARTIFACTS)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PurePosixPath(GLOBAL_ARTIFACT).name
        explanation.to_frame().to_parquet(path, index=False)
        try:
            get_client(settings).log_artifact(
                run_id, str(path), artifact_path=str(PurePosixPath(GLOBAL_ARTIFACT).parent)
            )
        except Exception as exc:  # boto3, requests, OS and MLflow errors alike
            raise BackendError(
                f"storing the global explanation of run {run_id} on {_where(settings)}: {exc}"
            ) from exc


def log_drift_report(settings: Settings, run_id: str, html: str, *, name: str, actor: Actor) -> str:
    """Store a drift report (HTML) as ``reports/<name>`` in ``run_id`` (a finished run).

    Returns:
        The artifact's path inside the run.

    Raises:
        PermissionDenied: the actor may not write into a run.
        BackendError: the artifact store cannot be written.
    """
    require(actor, Action.STORE_ARTIFACTS)
    folder = PurePosixPath(DRIFT_REPORTS)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PurePosixPath(name).name
        path.write_text(html, encoding="utf-8")
        try:
            get_client(settings).log_artifact(run_id, str(path), artifact_path=str(folder))
        except Exception as exc:  # boto3, requests, OS and MLflow errors alike
            raise BackendError(
                f"storing the drift report in run {run_id} on {_where(settings)}: {exc}"
            ) from exc
    return str(folder / path.name)


def get_global_explanation(
    settings: Settings, model: LoadedModel, *, actor: Actor
) -> GlobalExplanation:
    """A version's global explanation: the stored one, else computed (and stored once).

    Only a stored explanation that is really absent (versions logged before they were
    stored) is computed; a failed download raises and never overwrites what is there.
    Storing writes into the version's finished run, which only an ``ml_lead`` may do; for
    anyone else the explanation is computed and returned, not stored.

    Raises:
        NotFoundError: none is stored and the run has no test split to compute it from.
        BackendError: the stores cannot be reached.
    """
    run_id = model.info.run_id
    try:
        return load_global_explanation(settings, run_id)
    except NotFoundError:
        log.info("run %s has no stored global explanation: computing it once", run_id)
    explanation = compute_global(model, get_test_split(settings, run_id))
    if actor.can(Action.STORE_ARTIFACTS):
        log_global_explanation(settings, run_id, explanation, actor=actor)
    else:
        log.info("%s may not store into run %s: explanation not stored", actor, run_id)
    return explanation
