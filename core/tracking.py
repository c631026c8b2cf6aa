"""Point MLflow at the configured tracking store and artifact root.

MLflow keeps its tracking URI in process-global state; every core function that talks to
MLflow goes through :func:`get_client` or :func:`use_tracking` so that state always
matches the ``Settings`` it was given.
"""

from __future__ import annotations

import logging
import os

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from core.config import Settings, mask_url
from core.errors import BackendError

log = logging.getLogger(__name__)

# Fail fast instead of retrying for minutes when a tracking server is down.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
# A second line of defence behind core.models.loading, which never unpickles: MLflow's own
# loaders refuse pickle, cloudpickle and artifact-trusted skops files in every process that
# uses core. Forced, not defaulted: no environment can switch it back on by accident.
os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"


def point_mlflow(settings: Settings) -> None:
    """Point MLflow's process-global tracking and registry URIs at ``settings``."""
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
        settings.home.mkdir(parents=True, exist_ok=True)
    point_mlflow(settings)
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
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
    """An MLflow client for the settings' tracking store and registry."""
    settings.apply_to_environment()
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
