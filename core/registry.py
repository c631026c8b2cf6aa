"""The model registry: registered model versions, their aliases, and loading a version.

Words as MLflow uses them: a *registered model* has numbered *versions*; an *alias*
(``champion``) points at one version; each version comes from a *run*.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.config import Settings, mask_url
from core.db import AliasEvent, get_engine
from core.db.text import safe_text
from core.errors import BackendError, NotFoundError
from core.reference import ReferenceStats
from core.schema import FEATURES
from core.tracking import describe_mlflow_error, get_client, point_mlflow

log = logging.getLogger(__name__)

TAG_THRESHOLD = "threshold"
TAG_MODEL_KIND = "model_kind"
TAG_DATA_SHA256 = "data_sha256"


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version with what the workbench needs to show and use it."""

    name: str
    version: int
    run_id: str
    aliases: tuple[str, ...]
    threshold: float
    model_kind: str
    created_at: datetime
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class LoadedModel:
    """A version's native model (LightGBM Booster or sklearn pipeline), loaded once."""

    info: ModelVersionInfo
    estimator: Any

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Fraud probability per row of a (rows, 30) float array in schema order.

        LightGBM versions are native Boosters (saved up to their best iteration) whose
        predict returns the fraud probability directly: no pandas, no name checks.
        """
        if self.info.model_kind == "lightgbm":
            return self.estimator.predict(features)
        # The pipeline was fitted on named columns; a zero-copy frame keeps sklearn quiet.
        frame = pd.DataFrame(features, columns=list(FEATURES), copy=False)
        return self.estimator.predict_proba(frame)[:, 1]


def _wrap(settings: Settings, action: str, exc: MlflowException) -> Exception:
    if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in exc.message.lower():
        # Say where we looked: an empty home (or another tracking store) is the usual cause.
        where = mask_url(str(settings.tracking_uri))
        return NotFoundError(f"{action}: {exc.message} (looked in the tracking store {where})")
    where = mask_url(str(settings.tracking_uri))
    return BackendError(f"{action} on {where}: {describe_mlflow_error(exc)}")


def _info(mv: Any, metrics: dict[str, float] | None) -> ModelVersionInfo:
    tags = dict(mv.tags or {})
    return ModelVersionInfo(
        name=mv.name,
        version=int(mv.version),
        run_id=mv.run_id or "",
        aliases=tuple(mv.aliases or ()),
        threshold=float(tags.get(TAG_THRESHOLD, 0.5)),
        model_kind=tags.get(TAG_MODEL_KIND, "unknown"),
        created_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC),
        metrics=metrics or {},
        tags=tags,
    )


def _run_metrics(settings: Settings, run_ids: list[str]) -> dict[str, dict[str, float]]:
    """Test metrics (without the ``test_`` prefix) of several runs in one query."""
    ids = [r for r in run_ids if r]
    if not ids:
        return {}
    client = get_client(settings)
    quoted = ", ".join(f"'{r}'" for r in ids)
    try:
        experiment = client.get_experiment_by_name(settings.experiment_name)
        if experiment is None:
            return {}
        runs = client.search_runs([experiment.experiment_id], f"attributes.run_id IN ({quoted})")
    except MlflowException as exc:
        raise _wrap(settings, "reading the runs' test metrics", exc) from exc
    return {
        run.info.run_id: {
            k.removeprefix("test_"): v for k, v in run.data.metrics.items() if k.startswith("test_")
        }
        for run in runs
    }


def get_version_by_alias(
    settings: Settings, alias: str | None = None, *, with_metrics: bool = True
) -> ModelVersionInfo:
    """Resolve ``models:/<name>@<alias>`` (default: the live alias) to its version.

    ``with_metrics=False`` skips the run lookup (scoring needs only the threshold).

    Raises:
        NotFoundError: no such registered model or alias.
        BackendError: the registry cannot be reached.
    """
    alias = alias or settings.live_alias
    try:
        mv = get_client(settings).get_model_version_by_alias(settings.model_name, alias)
    except MlflowException as exc:
        raise _wrap(settings, f"alias {settings.model_name}@{alias}", exc) from exc
    metrics = _run_metrics(settings, [mv.run_id]).get(mv.run_id) if with_metrics else None
    return _info(mv, metrics)


def get_version(settings: Settings, version: int, *, with_metrics: bool = True) -> ModelVersionInfo:
    """One version of the registered model, with its test metrics unless told not to.

    Raises:
        NotFoundError: no such version.
        BackendError: the registry cannot be reached.
    """
    try:
        mv = get_client(settings).get_model_version(settings.model_name, str(version))
    except MlflowException as exc:
        raise _wrap(settings, f"{settings.model_name} version {version}", exc) from exc
    metrics = _run_metrics(settings, [mv.run_id]).get(mv.run_id) if with_metrics else None
    return _info(mv, metrics)


def list_versions(settings: Settings) -> list[ModelVersionInfo]:
    """Every version of the registered model, newest first, with aliases and metrics.

    Returns an empty list when the registered model does not exist yet.
    """
    client = get_client(settings)
    try:
        found = client.search_model_versions(f"name = '{settings.model_name}'")
        # search results carry no aliases; the registered model has the alias map
        alias_map = client.get_registered_model(settings.model_name).aliases if found else {}
    except MlflowException as exc:
        raise _wrap(settings, f"listing {settings.model_name}", exc) from exc
    metrics = _run_metrics(settings, [mv.run_id for mv in found])
    infos = []
    for mv in found:
        aliases = tuple(sorted(a for a, v in alias_map.items() if int(v) == int(mv.version)))
        infos.append(replace(_info(mv, metrics.get(mv.run_id)), aliases=aliases))
    return sorted(infos, key=lambda info: info.version, reverse=True)


def get_alias_version(settings: Settings, alias: str) -> int | None:
    """The version an alias points at, or None when it is unset."""
    try:
        return int(
            get_client(settings).get_model_version_by_alias(settings.model_name, alias).version
        )
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") or (
            "not found" in exc.message.lower()
        ):
            return None
        raise _wrap(settings, f"alias {alias}", exc) from exc


def set_alias(
    settings: Settings, *, version: int, alias: str | None = None, actor: str, reason: str
) -> int | None:
    """Point ``alias`` (default: the live alias) at ``version`` and record the move.

    The history row and the registry move succeed or fail together: the intent is
    written first (``pending``), then the alias moves, then the row is confirmed. If the
    move fails the row is marked ``failed``; if the confirmation fails the alias is moved
    back. A ``pending`` row is only left behind when the database and then the registry
    fail in the same call (logged as an error).

    Returns:
        The version the alias pointed at before, or None.

    Raises:
        NotFoundError: no such version.
        BackendError: the registry or the app database failed (nothing moved).
    """
    alias = alias or settings.live_alias
    get_version(settings, version, with_metrics=False)  # NotFoundError before anything moves
    previous = get_alias_version(settings, alias)
    user_text = {"actor": safe_text(actor, 128), "reason": safe_text(reason, 2000)}
    intent = AliasEvent(
        model_name=settings.model_name,
        alias=alias,
        from_version=previous,
        to_version=version,
        status="pending",
        **user_text,
    )
    _alias_history(settings, "recording the alias move", lambda s: s.add(intent))
    client = get_client(settings)
    try:
        client.set_registered_model_alias(settings.model_name, alias, str(version))
    except Exception as exc:  # undo the intent, whatever the registry raised
        _settle_alias_event(settings, intent.id, "failed")
        if isinstance(exc, MlflowException):
            raise _wrap(settings, f"setting {alias} to version {version}", exc) from exc
        raise BackendError(f"setting {alias} to version {version} failed: {exc}") from exc
    try:
        _settle_alias_event(settings, intent.id, "confirmed", strict=True)
    except BackendError:
        _undo_alias_move(settings, alias, previous)
        raise
    log.info("%s@%s: %s -> %s by %s", settings.model_name, alias, previous, version, actor)
    return previous


def _alias_history(settings: Settings, action: str, work: Any) -> None:
    """Run ``work(session)`` in one transaction on the app database, as a BackendError."""
    try:
        with Session(get_engine(settings), expire_on_commit=False) as session, session.begin():
            work(session)
    except SQLAlchemyError as exc:
        raise BackendError(
            f"{action}: app database failed: {str(exc).splitlines()[0][:300]}"
        ) from exc


def _settle_alias_event(
    settings: Settings, event_id: int, status: str, *, strict: bool = False
) -> None:
    """Mark an alias intent confirmed or failed (``strict``: raise if that fails)."""

    def settle(session: Session) -> None:
        session.execute(update(AliasEvent).where(AliasEvent.id == event_id).values(status=status))

    try:
        _alias_history(settings, f"marking the alias move {status}", settle)
    except BackendError as exc:
        if strict:
            raise
        log.error("alias event %s stays pending (should be %s): %s", event_id, status, exc)


def _undo_alias_move(settings: Settings, alias: str, previous: int | None) -> None:
    client = get_client(settings)
    try:
        if previous is None:
            client.delete_registered_model_alias(settings.model_name, alias)
        else:
            client.set_registered_model_alias(settings.model_name, alias, str(previous))
    except Exception as exc:
        log.error(
            "%s@%s moved but its history could not be confirmed, and moving it back to %s "
            "failed too (%s): the history row stays pending",
            settings.model_name,
            alias,
            previous,
            exc,
        )


def ensure_alias(settings: Settings, *, version: int, actor: str) -> str | None:
    """Set the live alias to ``version`` if it is unset; return the alias if it was set.

    Raises:
        BackendError: the registry or the app database failed (nothing moved).
    """
    if get_alias_version(settings, settings.live_alias) is not None:
        return None
    set_alias(settings, version=version, actor=actor, reason="first model: live alias was unset")
    return settings.live_alias


_models: dict[tuple[str, str, int], LoadedModel] = {}
_models_lock = threading.Lock()


def load_model(settings: Settings, info: ModelVersionInfo) -> LoadedModel:
    """Load a version's native model once; later calls return the cached object.

    A version's artifacts never change, so caching per (tracking store, name, version)
    is safe; moving an alias just makes callers ask for another version.

    Raises:
        BackendError: the artifacts cannot be fetched or loaded.
    """
    key = (str(settings.tracking_uri), info.name, info.version)
    with _models_lock:
        cached = _models.get(key)
        if cached is not None:
            return cached
        point_mlflow(settings)
        flavor = mlflow.lightgbm if info.model_kind == "lightgbm" else mlflow.sklearn
        try:
            estimator = flavor.load_model(info.uri)
        except (MlflowException, OSError) as exc:
            raise BackendError(f"loading {info.uri} failed: {exc}") from exc
        loaded = _models[key] = LoadedModel(info=info, estimator=estimator)
        return loaded


def download_artifact(settings: Settings, run_id: str, path: str) -> str:
    """Download one run artifact to a local temporary path and return that path.

    Raises:
        NotFoundError: the artifact does not exist.
    """
    point_mlflow(settings)
    try:
        return mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=path)
    except (MlflowException, OSError) as exc:
        raise NotFoundError(f"artifact {path} of run {run_id}: {exc}") from exc


def get_reference(settings: Settings, run_id: str) -> ReferenceStats:
    """The training-feature statistics logged with a run (medians, quantile bins).

    Raises:
        NotFoundError: the run has no reference statistics.
    """
    return ReferenceStats.from_json(
        Path(download_artifact(settings, run_id, "reference/feature_stats.json")).read_text()
    )


def get_test_split(settings: Settings, run_id: str) -> pd.DataFrame:
    """The test split a run was evaluated on (features and ``Class``).

    Raises:
        NotFoundError: the run has no logged test split.
    """
    return pd.read_parquet(download_artifact(settings, run_id, "data/test.parquet"))
