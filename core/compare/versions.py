"""The versions table and the parameter diff: what is known about each version.

A version registered outside the workbench (a plain ``mlflow.sklearn.log_model`` and
``register_model`` from a notebook) has no threshold, kind, data hash or test metrics of
ours: it is listed with what is known and None elsewhere, never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, urlsplit, urlunsplit

import pandas as pd
from mlflow.exceptions import MlflowException

from core.config import Settings
from core.provenance import DataProvenance, get_provenance
from core.registry import TAG_DATA_SHA256, ModelVersionInfo, get_version, list_versions
from core.tracking import backend_errors, get_client

METRICS = (
    "auprc",
    "roc_auc",
    "precision",
    "recall",
    "f1",
    "precision_at_k",
    "brier",
    "alerts_per_10k",
)
"""Test metrics shown per version, each raw and (``weighted_``) at the natural prevalence."""


@dataclass(frozen=True)
class VersionRow:
    """One row of the versions table.

    Attributes:
        version, aliases, tags: as the registry holds them.
        model_kind: the ``model_kind`` tag, None for a version registered elsewhere.
        created_at: when the version was registered (right after training).
        data_sha256: hash of the training file, None when unknown.
        sampling_fraction: the training data's legitimate-row sampling fraction, None when
            not stored (versions trained before it was, or elsewhere).
        threshold: the decision threshold, None when unset or invalid.
        metrics: test metrics by name (``METRICS``), None where not stored.
        weighted: the same at the natural prevalence, None where not stored.
        mlflow_url: the version's page in the MLflow UI, when tracking is an MLflow server.
        provenance: which data its metrics came from (``core.provenance``).
    """

    version: int
    aliases: tuple[str, ...]
    model_kind: str | None
    created_at: datetime
    data_sha256: str | None
    sampling_fraction: float | None
    threshold: float | None
    run_id: str | None
    metrics: dict[str, float | None] = field(default_factory=dict)
    weighted: dict[str, float | None] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    mlflow_url: str | None = None
    provenance: DataProvenance | None = None

    def as_record(self) -> dict[str, object]:
        """A flat record for a table (``weighted_`` prefixes the weighted metrics)."""
        return {
            "version": self.version,
            "aliases": ", ".join(self.aliases),
            "model_kind": self.model_kind,
            "created_at": self.created_at,
            **self.metrics,
            **{f"weighted_{k}": v for k, v in self.weighted.items()},
            "threshold": self.threshold,
            "sampling_fraction": self.sampling_fraction,
            "data_sha256": self.data_sha256,
            "run_id": self.run_id,
            "mlflow_url": self.mlflow_url,
        }


def mlflow_version_url(settings: Settings, version: int) -> str | None:
    """The version's page in the MLflow UI: at ``settings.mlflow_ui_url`` when set, else at
    the tracking URI's address when tracking is an http(s) server, else None.

    A user name and password in the address are left out of the link.
    """
    parts = urlsplit(settings.mlflow_ui_url or str(settings.tracking_uri))
    if parts.scheme not in ("http", "https"):
        return None
    host = parts.netloc.rsplit("@", 1)[-1]
    base = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    return f"{base}/#/models/{quote(settings.model_name)}/versions/{version}"


def _row(settings: Settings, info: ModelVersionInfo) -> VersionRow:
    return VersionRow(
        version=info.version,
        aliases=info.aliases,
        model_kind=info.tags.get("model_kind"),
        created_at=info.created_at,
        data_sha256=info.tags.get(TAG_DATA_SHA256),
        sampling_fraction=info.sampling_fraction,  # a malformed tag shows as unknown
        threshold=info.threshold,
        run_id=info.run_id or None,
        metrics={name: info.metrics.get(name) for name in METRICS},
        weighted={name: info.metrics.get(f"weighted_{name}") for name in METRICS},
        tags=dict(info.tags),
        mlflow_url=mlflow_version_url(settings, info.version),
        provenance=get_provenance(info, settings=settings),
    )


def list_version_rows(settings: Settings) -> list[VersionRow]:
    """Every version of the registered model, newest first, with what is known of each.

    Returns:
        One row per version; an empty list when the registered model does not exist.

    Raises:
        BackendError: the registry cannot be reached.
    """
    return [_row(settings, info) for info in list_versions(settings)]


def _params(settings: Settings, run_id: str) -> dict[str, str]:
    if not run_id:
        return {}
    try:
        return dict(get_client(settings).get_run(run_id).data.params)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return {}  # a version whose run is gone (or elsewhere): nothing known
        raise


@backend_errors("reading the versions' run parameters")
def param_diff(
    settings: Settings, versions: Sequence[int], *, differences_only: bool
) -> pd.DataFrame:
    """The versions' run parameters side by side.

    Args:
        settings: where the registry is.
        versions: the versions to show, in column order.
        differences_only: keep only the parameters whose values differ between versions
            (a parameter missing from some runs differs).

    Returns:
        One row per parameter (index ``parameter``, sorted), one column per version
        (``version N``); None where a run lacks the parameter.

    Raises:
        NotFoundError: no such version.
        BackendError: the registry cannot be reached.
    """
    columns: dict[str, dict[str, str]] = {}
    for version in dict.fromkeys(versions):
        info = get_version(settings, version, with_metrics=False)
        columns[f"version {version}"] = _params(settings, info.run_id)
    table = pd.DataFrame(columns, dtype=object).sort_index()
    table = table.astype(object).where(table.notna(), None)
    table.index.name = "parameter"
    if differences_only and len(table):
        differs = table.apply(lambda row: len({str(v) for v in row}) > 1, axis=1)
        table = table.loc[differs.to_numpy(dtype=bool)]
    return table
