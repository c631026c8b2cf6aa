"""Point MLflow at the configured tracking store and artifact root.

MLflow keeps its tracking URI in process-global state; every core function that talks to
MLflow goes through :func:`get_client` or :func:`use_tracking` so that state always
matches the ``Settings`` it was given.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import mlflow
from botocore.exceptions import BotoCoreError, ClientError
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from core.config import Settings, show_url
from core.errors import BackendError, WorkbenchError

log = logging.getLogger(__name__)

# Fail fast instead of retrying for minutes when a tracking server is down.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
# MLflow draws a download progress bar whenever tqdm is installed (shap brings it): on the
# command line that is noise on stderr, where an error must be one clear line.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# A second line of defence behind core.models.loading, which never unpickles: MLflow's own
# loaders refuse pickle, cloudpickle and artifact-trusted skops files in every process that
# uses core. Forced, not defaulted: no environment can switch it back on by accident.
os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"


_ERRNO_REASON = re.compile(r"\[Errno -?\d+\] ([^\"')]+)")


def describe_mlflow_error(exc: MlflowException) -> str:
    """MLflow's message, condensed to its reason when it is a failed HTTP connection.

    An unreachable tracking server gives a message of several hundred characters
    (the request URL, urllib3's retry state, the nested exception reprs); the user needs
    only "cannot connect: Connection refused".
    """
    message = exc.message
    if "Max retries exceeded" in message or "Failed to establish a new connection" in message:
        found = _ERRNO_REASON.search(message)
        reason = found.group(1).strip() if found else "no answer"
        return f"cannot connect: {reason}"
    if "Read timed out" in message:
        return "no answer in time (read timed out)"
    return message


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
            reason = _blocked_by_a_file(uri.split("///", 1)[-1]) if sqlite else None
            reason = reason or str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise BackendError(
                f"MLflow tracking store {show_url(uri)} cannot be opened: {reason}"
            ) from exc
        _opened.add(uri)


def _blocked_by_a_file(path: str) -> str | None:
    """ "X is a file, not a folder" when a file stands where a folder of ``path`` should be."""
    for parent in Path(path).parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, not a folder"
    return None


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
            reason = _blocked_by_a_file(str(settings.home / "x")) or str(exc)
            raise BackendError(
                f"the workbench home {settings.home} cannot be made: {reason}"
            ) from exc
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
            f"MLflow tracking store {show_url(str(settings.tracking_uri))} failed: "
            f"{describe_mlflow_error(exc)}"
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
        message = (
            describe_mlflow_error(exc)
            if isinstance(exc, MlflowException)
            else str(exc).splitlines()[0]
        )
        raise BackendError(
            f"MLflow tracking store {show_url(str(settings.tracking_uri))} failed: {message}"
        ) from exc


P = ParamSpec("P")
R = TypeVar("R")


def backend_errors(action: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a function that writes to MLflow so its backend failures are BackendErrors.

    MLflow passes through what its stores raise: ``OSError`` from a folder artifact root,
    botocore errors from S3, SQLAlchemy errors from a database store. A caller should see
    one kind of error, naming the action and the reason.
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(function)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except WorkbenchError:
                raise
            except MlflowException as exc:
                raise BackendError(f"{action} failed: {describe_mlflow_error(exc)}") from exc
            except (OSError, BotoCoreError, ClientError, SQLAlchemyError) as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                raise BackendError(f"{action} failed: {reason}") from exc

        return wrapped

    return decorate
