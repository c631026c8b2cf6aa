"""Is each backend reachable? One check per backend, each with a readable message."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlflow.exceptions import MlflowException

from core.config import Settings, show_url
from core.db import check_database
from core.errors import BackendError, WorkbenchError
from core.storage import check_artifact_root
from core.tracking import describe_mlflow_error, get_client


@dataclass(frozen=True)
class BackendStatus:
    name: str
    url: str  # masked
    ok: bool
    message: str


def _check_tracking(settings: Settings) -> None:
    try:
        get_client(settings).search_experiments(max_results=1)
    except MlflowException as exc:
        raise BackendError(
            f"MLflow tracking store is not reachable: {describe_mlflow_error(exc)}"
        ) from exc


def check_backends(settings: Settings) -> list[BackendStatus]:
    """Check the tracking store, the artifact root and the app database.

    Never raises for an unreachable backend: the failure is in the returned status.
    """
    checks: list[tuple[str, str, Callable[[Settings], None]]] = [
        ("MLflow tracking", str(settings.tracking_uri), _check_tracking),
        ("Artifact root", str(settings.artifact_root), check_artifact_root),
        ("App database", str(settings.database_url), check_database),
    ]
    results = []
    for name, url, check in checks:
        try:
            check(settings)
        except (WorkbenchError, OSError) as exc:
            results.append(BackendStatus(name, show_url(url), False, str(exc)))
        else:
            results.append(BackendStatus(name, show_url(url), True, "reachable"))
    return results
