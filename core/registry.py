"""The model registry: registered model versions, their aliases, and loading a version.

Words as MLflow uses them: a *registered model* has numbered *versions*; an *alias*
(``champion``) points at one version; each version comes from a *run*.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from mlflow.exceptions import MlflowException

from core.artifacts import download_model
from core.cache import OncePerKey
from core.config import Settings, show_url
from core.errors import BackendError, InputError, NotFoundError, WorkbenchError
from core.explain import Contributions
from core.models import ADAPTERS, ModelAdapter, load_adapter
from core.schema import format_threshold, scale_text
from core.tracking import describe_mlflow_error, get_client

log = logging.getLogger(__name__)

TAG_THRESHOLD = "threshold"
TAG_MODEL_KIND = "model_kind"
TAG_DATA_SHA256 = "data_sha256"
TAG_TRAINED_BY = "trained_by"
TAG_SAMPLING_FRACTION = "sampling_fraction"
"""Version tag (and run parameter) holding the legitimate-row sampling fraction."""
TAG_PROBABILITY_SCALE = "probability_scale"
"""Version tag: ``raw``, ``platt`` or ``isotonic``, the scale of the version's probabilities
and threshold (a copy of the MLmodel metadata, which decides, for lists that do not load
the model). Absent: raw (trained before calibration, or elsewhere)."""
TAG_TIME_FEATURE = "time_feature"
"""Version tag: how the model sees ``Time`` (``raw``, ``drop``, ``hour_of_day``); a copy of
the MLmodel metadata for lists. Absent: raw."""


class MissingThresholdError(InputError):
    """A decision was asked of a version that has no valid decision threshold."""


def parse_threshold(tag: str | None) -> tuple[float | None, str | None]:
    """Read a threshold tag: (the value, None) when valid, else (None, what is wrong).

    Valid means a number strictly between 0 and 1: at 0 or 1 every or no row is an alert.
    """
    if tag is None:
        return None, f"it has no {TAG_THRESHOLD!r} tag"
    try:
        value = float(tag)
    except ValueError:
        return None, f"its {TAG_THRESHOLD!r} tag {tag!r} is not a number"
    if not 0.0 < value < 1.0:  # also False for NaN
        return None, f"its {TAG_THRESHOLD!r} tag {tag!r} is not between 0 and 1"
    return value, None


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered model version with what the workbench needs to show and use it.

    ``threshold`` is None when the version has no valid threshold tag (``threshold_problem``
    says why): the version can be listed, shown and asked for probabilities, but not for
    decisions. ``model_kind`` is the tag written at registration, for display only; what a
    loaded model does follows its artifact (``LoadedModel.kind``).
    """

    name: str
    version: int
    run_id: str
    aliases: tuple[str, ...]
    threshold: float | None
    model_kind: str
    created_at: datetime
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    threshold_problem: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    """The run's parameters, read with the metrics (empty when not asked for or unknown)."""

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def trained_elsewhere(self) -> bool:
        """Registered from outside the workbench (a notebook): none of the tags our training
        writes with every version, so no test split or training statistics either."""
        return TAG_MODEL_KIND not in self.tags and TAG_DATA_SHA256 not in self.tags

    @property
    def sampling_fraction(self) -> float | None:
        """The training data's legitimate-row sampling fraction, for display: None when
        not stored (trained elsewhere, or before it was) or not a fraction in (0, 1].

        ``core.compare.evaluation.version_sampling_fraction`` is the strict reading (a
        malformed tag is an error there, where weights are computed with it).
        """
        try:
            value = float(self.tags[TAG_SAMPLING_FRACTION])
        except (KeyError, ValueError):
            return None
        return value if 0.0 < value <= 1.0 else None  # also None for NaN

    @property
    def probability_scale(self) -> str:
        """``raw``, ``platt`` or ``isotonic`` as tagged (raw when untagged), for display;
        what a loaded model does follows its artifact (``LoadedModel.probability_scale``)."""
        return self.tags.get(TAG_PROBABILITY_SCALE, "raw")

    @property
    def probability_scale_text(self) -> str:
        """What the version's probabilities mean, in words, e.g. ``calibrated (Platt), at
        the natural prevalence (sampling fraction 0.0173)``."""
        return scale_text(self.probability_scale, self.sampling_fraction)

    @property
    def threshold_text(self) -> str:
        """The threshold for display (:func:`format_threshold`), or ``missing``."""
        return "missing" if self.threshold is None else format_threshold(self.threshold)

    def require_threshold(self) -> float:
        """The decision threshold.

        Raises:
            MissingThresholdError: the version has no valid threshold; the message says
                which version and how to set one.
        """
        if self.threshold is not None:
            return self.threshold
        raise MissingThresholdError(
            f"{self.name} version {self.version} cannot decide alerts: {self.threshold_problem}. "
            f"Set its {TAG_THRESHOLD!r} version tag to a probability between 0 and 1 "
            "(MLflow UI, or MlflowClient().set_model_version_tag), or train a new version; "
            "probabilities alone need no threshold"
        )


@dataclass(frozen=True)
class LoadedModel:
    """A version's native model, wrapped in its kind's adapter (loaded once per version).

    ``info`` is what the caller resolved, as fresh as that lookup; the adapter is cached.
    """

    info: ModelVersionInfo
    adapter: ModelAdapter

    @property
    def kind(self) -> str:
        """The model kind, as read from the artifact."""
        return self.adapter.kind

    @property
    def estimator(self) -> Any:
        """The native model (a LightGBM Booster, a scikit-learn pipeline)."""
        return self.adapter.estimator

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Fraud probability per row of a (rows, 30) float array in schema order."""
        return self.adapter.predict_proba(features)

    def raw_score(self, features: np.ndarray) -> np.ndarray:
        """Log-odds per row, on :attr:`contribution_scale` (see ``ModelAdapter.raw_score``)."""
        return self.adapter.raw_score(features)

    @property
    def probability_scale(self) -> str:
        """``raw``, ``platt`` or ``isotonic``: what the artifact says the probabilities are."""
        return self.adapter.probability_scale

    @property
    def contribution_scale(self) -> str | None:
        """The scale contributions are on (``core.explain.LOG_ODDS`` or ``RAW_LOG_ODDS``)."""
        return self.adapter.contribution_scale

    def contributions(self, features: np.ndarray) -> Contributions:
        """SHAP contributions per row (see ``core.explain``), on their ``scale``.

        Raises:
            ExplanationUnavailableError: the version cannot be explained
                (:attr:`explanation_problem` says why).
        """
        return self.adapter.contributions(features)

    @property
    def explanation_problem(self) -> str | None:
        """Why this version cannot be explained, or None when it can."""
        return self.adapter.explanation_problem


def _wrap(settings: Settings, action: str, exc: MlflowException) -> Exception:
    if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in exc.message.lower():
        # Say where we looked: an empty home (or another tracking store) is the usual cause.
        where = show_url(str(settings.tracking_uri))
        return NotFoundError(f"{action}: {exc.message} (looked in the tracking store {where})")
    if exc.error_code == "INVALID_PARAMETER_VALUE":  # e.g. a malformed or reserved alias
        return InputError(f"{action}: {exc.message}")
    where = show_url(str(settings.tracking_uri))
    return BackendError(f"{action} on {where}: {describe_mlflow_error(exc)}")


def _info(
    mv: Any, metrics: dict[str, float] | None, params: dict[str, str] | None = None
) -> ModelVersionInfo:
    tags = dict(mv.tags or {})
    threshold, problem = parse_threshold(tags.get(TAG_THRESHOLD))
    return ModelVersionInfo(
        name=mv.name,
        version=int(mv.version),
        run_id=mv.run_id or "",
        aliases=tuple(mv.aliases or ()),
        threshold=threshold,
        model_kind=tags.get(TAG_MODEL_KIND, "unknown"),
        created_at=datetime.fromtimestamp(mv.creation_timestamp / 1000, tz=UTC),
        metrics=metrics or {},
        tags=tags,
        threshold_problem=problem,
        params=params or {},
    )


def _run_data(
    settings: Settings, run_ids: list[str]
) -> dict[str, tuple[dict[str, float], dict[str, str]]]:
    """Test metrics (without the ``test_`` prefix) and parameters of several runs, in one
    query (the parameters carry the data provenance of versions trained before its tags)."""
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
        run.info.run_id: (
            {
                k.removeprefix("test_"): v
                for k, v in run.data.metrics.items()
                if k.startswith("test_")
            },
            dict(run.data.params),
        )
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
    metrics, params = (
        _run_data(settings, [mv.run_id]).get(mv.run_id, ({}, {})) if with_metrics else (None, None)
    )
    return _info(mv, metrics, params)


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
    metrics, params = (
        _run_data(settings, [mv.run_id]).get(mv.run_id, ({}, {})) if with_metrics else (None, None)
    )
    return _info(mv, metrics, params)


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
    runs = _run_data(settings, [mv.run_id for mv in found])
    infos = []
    for mv in found:
        aliases = tuple(sorted(a for a, v in alias_map.items() if int(v) == int(mv.version)))
        metrics, params = runs.get(mv.run_id, ({}, {}))
        infos.append(replace(_info(mv, metrics, params), aliases=aliases))
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


_adapters: OncePerKey[tuple[str, str, int], ModelAdapter] = OncePerKey()


def load_model(settings: Settings, info: ModelVersionInfo) -> LoadedModel:
    """Load a version's native model once; later calls reuse it with the given ``info``.

    A version's artifacts never change, so caching per (tracking store, name, version) is
    safe; its tags (the threshold) can change, so they come with ``info``, never the cache.
    The kind and the way to load come from the artifact (``core.models.loading``). Each
    version loads under its own lock (``core.cache``): two callers of one version download
    it once, and a slow download of one version (the app's prewarm of the live one) never
    holds up another.

    Raises:
        NotFoundError: no such version.
        RefusedError: the model cannot be loaded safely (e.g. saved with pickle).
        BackendError: the artifacts cannot be fetched or read.
    """
    key = (str(settings.tracking_uri), info.name, info.version)
    adapter = _adapters.get(key, lambda: _download_and_load(settings, info))
    return LoadedModel(info=info, adapter=adapter)


def _download_and_load(settings: Settings, info: ModelVersionInfo) -> ModelAdapter:
    with tempfile.TemporaryDirectory() as tmp:
        folder = download_model(settings, info.name, info.version, Path(tmp))
        try:
            adapter = load_adapter(folder, ADAPTERS)
        except WorkbenchError as exc:
            raise type(exc)(f"{info.name} version {info.version}: {exc}") from exc
    # a version trained elsewhere has no kind tag: nothing to disagree with
    if TAG_MODEL_KIND in info.tags and adapter.kind != info.model_kind:
        log.warning(
            "%s version %s is tagged %s but its artifact holds a %s model",
            info.name,
            info.version,
            info.model_kind,
            adapter.kind,
        )
    return adapter


def read_threshold(settings: Settings, info: ModelVersionInfo) -> float:
    """The version's decision threshold, read now from its tag (never from a cache).

    Raises:
        MissingThresholdError: the version has no valid threshold.
        NotFoundError: the version no longer exists.
        BackendError: the registry cannot be reached.
    """
    try:
        mv = get_client(settings).get_model_version(info.name, str(info.version))
    except MlflowException as exc:
        raise _wrap(settings, f"{info.name} version {info.version}", exc) from exc
    return _info(mv, None).require_threshold()
