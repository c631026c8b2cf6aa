"""Point MLflow at the configured tracking store and artifact root.

MLflow keeps its tracking URI in process-global state; every core function that talks to
MLflow goes through :func:`get_client` or :func:`use_tracking` so that state always
matches the ``Settings`` it was given.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings, mask_url
from core.errors import BackendError

log = logging.getLogger(__name__)

# Fail fast instead of retrying for minutes when a tracking server is down.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


_opened: set[str] = set()
_opened_lock = threading.Lock()


def check_tracking_store(settings: Settings) -> None:
    """Fail fast, once per process and store, when a database tracking store cannot be opened.

    MLflow opens a database store by retrying for about 100 s (ten attempts with a growing
    pause) and then raises the driver's own error; a folder that cannot be made raises a
    bare ``OSError``. One plain connection first turns both into a ``BackendError`` within
    the connect timeout. HTTP stores are not checked here: their calls fail fast already
    (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``).

    Raises:
        BackendError: the tracking database (or the folder of its SQLite file) cannot be
            opened.
    """
    uri = str(settings.tracking_uri)
    if uri.startswith(("http://", "https://")) or uri in _opened:
        return
    with _opened_lock:
        if uri in _opened:
            return
        sqlite = uri.startswith("sqlite")
        try:
            if sqlite:
                path = uri.split("///", 1)[-1]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(uri, connect_args={} if sqlite else {"connect_timeout": 5})
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
            finally:
                engine.dispose()
        except (SQLAlchemyError, OSError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise BackendError(
                f"MLflow tracking store {mask_url(uri)} cannot be opened: {reason}"
            ) from exc
        _opened.add(uri)


def point_mlflow(settings: Settings) -> None:
    """Point MLflow's process-global tracking and registry URIs at ``settings``.

    Raises:
        BackendError: a database tracking store cannot be opened.
    """
    check_tracking_store(settings)
    settings.apply_to_environment()
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)


def use_tracking(settings: Settings) -> str:
    """Point the MLflow fluent API at ``settings`` and make sure the experiment exists.

    Returns:
        The experiment id.

    Raises:
        BackendError: the tracking store or its experiment cannot be reached or created.
    """
    if settings.artifact_scheme == "file" or str(settings.tracking_uri).startswith("sqlite"):
        try:
            settings.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BackendError(f"the workbench home {settings.home} cannot be made: {exc}") from exc
    point_mlflow(settings)
    client = get_client(settings)
    try:
        experiment = client.get_experiment_by_name(settings.experiment_name)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            experiment_id = client.create_experiment(
                settings.experiment_name,
                artifact_location=f"{settings.artifact_root}/{settings.experiment_name}",
            )
    except MlflowException as exc:
        raise BackendError(
            f"MLflow tracking store {mask_url(str(settings.tracking_uri))} failed: {exc.message}"
        ) from exc
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def get_client(settings: Settings) -> MlflowClient:
    """An MLflow client for the settings' tracking store and registry.

    Raises:
        BackendError: the tracking store cannot be opened (MLflow opens it here).
    """
    check_tracking_store(settings)
    settings.apply_to_environment()
    try:
        return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    except (MlflowException, SQLAlchemyError, OSError) as exc:
        message = exc.message if isinstance(exc, MlflowException) else str(exc).splitlines()[0]
        raise BackendError(
            f"MLflow tracking store {mask_url(str(settings.tracking_uri))} failed: {message}"
        ) from exc
