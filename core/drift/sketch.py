"""A version's drift reference: a quantile sketch of each feature and of its scores.

Computed once, at training (features from the training rows, scores from the validation
rows, both weighted to the natural prevalence where the data was down-sampled), and stored
with the version as ``reference/drift_sketch.json``. Versions trained before it, or
elsewhere, get one computed from their logged test split, labelled as such; versions with
neither have no drift reference and say so.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import mlflow
import numpy as np
import pandas as pd

from core.artifacts import download_artifact, get_test_split
from core.config import Settings
from core.drift.stats import LEVELS, ColumnSketch, compute_sketch
from core.errors import BackendError, NotFoundError, RefusedError
from core.registry import ModelVersionInfo, load_model
from core.schema import FEATURES, LABEL

SKETCH_ARTIFACT = "reference/drift_sketch.json"
FORMAT = 1
Source = Literal["training", "test split"]


@dataclass(frozen=True)
class ReferenceSketch:
    """Every feature's sketch and the scores', with where they came from.

    Attributes:
        columns: feature name -> its sketch (the 30 model inputs).
        score: the sketch of the version's scores (its stored probability scale), or None.
        source: ``training`` (stored at training: training features, validation scores)
            or ``test split`` (computed later from the logged test split).
        sampling_fraction: the legitimate-row fraction the reference was weighted with.
        threshold, alert_rate: the version's threshold at training and the (weighted)
            share of validation rows at or above it, when known.
    """

    columns: dict[str, ColumnSketch]
    score: ColumnSketch | None
    source: Source
    sampling_fraction: float = 1.0
    threshold: float | None = None
    alert_rate: float | None = None

    @cached_property  # 2 ms of JSON a call: a window of 100 events asked it 100 times
    def sketch_id(self) -> str:
        """A short digest of the bins: counts recorded on other bins are never mixed in."""
        edges = {name: c.edges.tolist() for name, c in self.columns.items()}
        if self.score is not None:
            edges["score"] = self.score.edges.tolist()
        return hashlib.sha256(json.dumps(edges, sort_keys=True).encode()).hexdigest()[:16]

    def alert_rate_at(self, threshold: float) -> float | None:
        """The reference's share of scores at or above ``threshold`` (interpolated between
        the score's quantiles, exact at the training threshold); None without scores."""
        if self.alert_rate is not None and threshold == self.threshold:
            return self.alert_rate
        if self.score is None:
            return None
        edges, cdf = self.score.edges, self.score.cdf
        if threshold > edges[-1]:
            return 0.0
        if threshold <= edges[0]:
            return 1.0
        # share strictly below the threshold, the CDF taken as linear between edges
        below = float(np.interp(threshold, edges, cdf))
        i = int(np.searchsorted(edges, threshold, side="left"))
        if edges[i] == threshold:  # the mass at the edge itself is at or above it
            below = float(cdf[i - 1]) if i else 0.0
        return max(0.0, 1.0 - below)

    def to_json(self) -> str:
        def column(c: ColumnSketch) -> dict[str, object]:
            return {
                "edges": c.edges.tolist(),
                "cdf": c.cdf.tolist(),
                "mean": c.mean,
                "std": c.std,
                "rows": c.rows,
            }

        return json.dumps(
            {
                "format": FORMAT,
                "source": self.source,
                "sampling_fraction": self.sampling_fraction,
                "threshold": self.threshold,
                "alert_rate": self.alert_rate,
                "columns": {name: column(c) for name, c in self.columns.items()},
                "score": None if self.score is None else column(self.score),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ReferenceSketch:
        raw = json.loads(text)

        def column(c: dict[str, object]) -> ColumnSketch:
            return ColumnSketch(
                edges=np.asarray(c["edges"], dtype=np.float64),
                cdf=np.asarray(c["cdf"], dtype=np.float64),
                mean=float(c["mean"]),  # type: ignore[arg-type]
                std=float(c["std"]),  # type: ignore[arg-type]
                rows=int(c["rows"]),  # type: ignore[call-overload]
            )

        return cls(
            columns={name: column(c) for name, c in raw["columns"].items()},
            score=None if raw.get("score") is None else column(raw["score"]),
            source=raw["source"],
            sampling_fraction=float(raw.get("sampling_fraction", 1.0)),
            threshold=raw.get("threshold"),
            alert_rate=raw.get("alert_rate"),
        )


def compute_reference_sketch(
    features: pd.DataFrame,
    *,
    scores: np.ndarray | None,
    source: Source,
    feature_labels: np.ndarray | None = None,
    score_labels: np.ndarray | None = None,
    sampling_fraction: float = 1.0,
    threshold: float | None = None,
) -> ReferenceSketch:
    """Sketch each feature of ``features`` and the ``scores``.

    Args:
        features: reference rows with the 30 feature columns.
        scores: the version's scores on its reference rows (validation at training), or
            None.
        source: where the rows come from (see :class:`ReferenceSketch`).
        feature_labels, score_labels: 0/1 labels of those rows: with a sampling fraction
            below 1, legitimate rows weigh 1 / fraction (the natural prevalence).
        sampling_fraction: the legitimate-row fraction of the data.
        threshold: the version's threshold, to store the exact reference alert rate.

    Returns:
        The reference sketch.
    """

    def weights(labels: np.ndarray | None) -> np.ndarray | None:
        if labels is None or sampling_fraction >= 1.0:
            return None
        # as core.compare.prevalence_weights (not imported: core.compare imports training,
        # which imports this module to store the sketch)
        return np.where(np.asarray(labels) == 1, 1.0, 1.0 / sampling_fraction)

    feature_weights = weights(feature_labels)
    values = features.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
    columns = {
        name: compute_sketch(values[:, j], levels=LEVELS, weights=feature_weights)
        for j, name in enumerate(FEATURES)
    }
    score_sketch, alert_rate = None, None
    if scores is not None and len(scores):
        score_weights = weights(score_labels)
        score_sketch = compute_sketch(scores, levels=LEVELS, weights=score_weights)
        if threshold is not None:
            w = np.ones(len(scores)) if score_weights is None else score_weights
            alert_rate = float(np.sum(w[np.asarray(scores) >= threshold]) / np.sum(w))
    return ReferenceSketch(
        columns=columns,
        score=score_sketch,
        source=source,
        sampling_fraction=float(sampling_fraction),
        threshold=threshold,
        alert_rate=alert_rate,
    )


def log_drift_sketch(
    train: pd.DataFrame,
    val_proba: np.ndarray,
    y_val: np.ndarray,
    *,
    sampling_fraction: float,
    threshold: float,
) -> ReferenceSketch:
    """Log the drift reference to the active MLflow run (training does, once): the
    training rows' features and the validation scores, at the natural prevalence."""
    sketch = compute_reference_sketch(
        train,
        scores=val_proba,
        source="training",
        feature_labels=train[LABEL].to_numpy(),
        score_labels=y_val,
        sampling_fraction=sampling_fraction,
        threshold=threshold,
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(SKETCH_ARTIFACT).name
        path.write_text(sketch.to_json())
        mlflow.log_artifact(str(path), artifact_path=str(Path(SKETCH_ARTIFACT).parent))
    return sketch


_cache: dict[str, ReferenceSketch | None] = {}
_failed: dict[str, tuple[float, BackendError]] = {}
_lock = threading.Lock()
RETRY_AFTER = 60.0
"""Seconds a store failure is remembered: scoring with the store down does not wait for it
again on every call (each try can take the store's whole timeout)."""


def get_reference_sketch(settings: Settings, info: ModelVersionInfo) -> ReferenceSketch | None:
    """The version's drift reference: stored at training, else computed from its test
    split (once per process), else None.

    Raises:
        BackendError: the stores cannot be reached (remembered for ``RETRY_AFTER`` s).
        RefusedError: the stored sketch is unreadable, or the test split cannot give one
            (the model cannot be loaded safely, or the split is not in our schema).
    """
    key = f"{settings.tracking_uri}|{info.run_id}|{info.name}|{info.version}"
    with _lock:
        if key in _cache:
            return _cache[key]
        failed = _failed.get(key)
        if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER:
            raise failed[1]
    try:
        sketch = _load(settings, info)
    except BackendError as exc:
        with _lock:
            _failed[key] = (time.monotonic(), exc)
        raise
    with _lock:
        _cache[key] = sketch
        _failed.pop(key, None)
    return sketch


def _load(settings: Settings, info: ModelVersionInfo) -> ReferenceSketch | None:
    if not info.run_id:
        return None
    who = f"{info.name} version {info.version}"
    try:
        path = download_artifact(settings, info.run_id, SKETCH_ARTIFACT)
    except NotFoundError:
        pass
    else:
        try:
            return ReferenceSketch.from_json(Path(path).read_text())
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise RefusedError(f"{who}: its {SKETCH_ARTIFACT} is unreadable ({exc!r})") from exc
    try:
        test = get_test_split(settings, info.run_id)
    except NotFoundError:
        return None
    model = load_model(settings, info)
    try:
        values = test.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
    except (KeyError, ValueError, TypeError) as exc:
        raise RefusedError(f"{who}: its test split is not in the schema ({exc!r})") from exc
    labels = test[LABEL].to_numpy() if LABEL in test else None
    from core.compare.evaluation import version_sampling_fraction  # import cycle, above

    fraction = version_sampling_fraction(info) or 1.0
    if not np.isfinite(values).any(axis=0).all():
        raise RefusedError(f"{who}: its test split has a column with no finite value")
    return compute_reference_sketch(
        test,
        scores=model.predict_proba(values),
        source="test split",
        feature_labels=labels,
        score_labels=labels,
        sampling_fraction=fraction,
        threshold=info.threshold,
    )
