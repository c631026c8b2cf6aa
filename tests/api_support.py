"""Helpers for the REST sidecar's tests: fast settings, real API keys, a running app, the
reference model read straight from MLflow, and Prometheus text parsed by prometheus-client's
own parser.

Expected values here never come from the code under test: the probabilities from the
version's LightGBM booster loaded with MLflow's own flavour and the Platt calibration its
MLmodel metadata records (applied here by hand), the threshold from the version's tag read
with ``MlflowClient``, the metrics from the version's run.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
from fastapi import FastAPI
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from prometheus_client.parser import text_string_to_metric_families

from core.apikeys import create_api_key
from core.config import Settings
from core.schema import FEATURES
from tests.conftest import LEAD

READY_TIMEOUT = 60.0
"""Seconds a test waits for GET /ready to answer 200 (the model loads in the background)."""

FAST: dict[str, Any] = {
    "api_reload_interval": 0.2,
    "api_key_refresh": 0.2,
    "api_audit_flush": 0.2,
}
"""Short intervals, so a revoked key or a moved alias shows within a fraction of a second."""


def api_settings(settings: Settings, **overrides: Any) -> Settings:
    """``settings`` with the sidecar's intervals short, and ``overrides`` on top."""
    return settings.model_copy(update={**FAST, **overrides})


@dataclass(frozen=True)
class Key:
    """A real API key: its name (to revoke it) and its text (to send it)."""

    name: str
    text: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.text)


def bearer(text: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {text}"}


def new_key(settings: Settings, *, scopes: Sequence[str] = ("score",)) -> Key:
    """Make an API key with a fresh name in the app database of ``settings``."""
    name = f"test-{'-'.join(scopes)}-{uuid.uuid4().hex[:8]}"
    made = create_api_key(settings, name=name, scopes=tuple(scopes), actor=LEAD)
    return Key(name=name, text=made.key)


def wait_ready(client: TestClient, *, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
    """Poll GET /ready until it answers 200; its body. Fails the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/ready")
        if response.status_code == 200:
            return response.json()
        if time.monotonic() > deadline:
            raise AssertionError(
                f"GET /ready did not answer 200 within {timeout:.0f} s: "
                f"{response.status_code} {response.text}"
            )
        time.sleep(0.05)


@contextmanager
def running(app: FastAPI, **options: Any) -> Iterator[TestClient]:
    """``app`` with its lifespan running (keys, watcher, recorder), once it is ready."""
    with TestClient(app, **options) as client:
        wait_ready(client)
        yield client


def transaction(row: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The 30 named features of ``row`` as JSON numbers, plus ``extra`` fields."""
    return {**{name: float(row[name]) for name in FEATURES}, **extra}


def feature_array(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    return np.array([[float(row[name]) for name in FEATURES] for row in rows], dtype=np.float64)


def raw_json(fields: Mapping[str, str]) -> str:
    """A JSON object written by hand from field -> literal token (``NaN`` stays a bare token)."""
    return "{" + ", ".join(f'"{name}": {token}' for name, token in fields.items()) + "}"


@dataclass(frozen=True)
class Reference:
    """The live version as MLflow itself reports it, independent of core and api."""

    name: str
    alias: str
    version: int
    threshold: float
    metrics: dict[str, float]
    booster: lgb.Booster
    slope: float = 1.0
    """Platt's slope; the offset is Platt's intercept plus the prior shift log(F)."""
    offset: float = 0.0
    calibrated: bool = False
    time_feature: str = "raw"
    """How the booster sees Time, written here by hand: drop = the constant 0."""

    def view(self, features: np.ndarray) -> np.ndarray:
        if self.time_feature == "raw":
            return features
        assert self.time_feature == "drop", self.time_feature
        seen = np.array(features, dtype=np.float64)
        seen[:, FEATURES.index("Time")] = 0.0
        return seen

    def probability(self, features: np.ndarray) -> np.ndarray:
        features = self.view(features)
        if not self.calibrated:
            return np.asarray(self.booster.predict(features))
        raw = np.asarray(self.booster.predict(features, raw_score=True))
        return 1.0 / (1.0 + np.exp(-(self.slope * raw + self.offset)))

    def top_reasons(self, features: np.ndarray, *, top: int = 3) -> list[list[tuple[str, float]]]:
        """Per row, the ``top`` features with the largest positive TreeSHAP contribution
        (LightGBM's ``pred_contrib``), largest first, as (feature, contribution)."""
        native = np.asarray(self.booster.predict(self.view(features), pred_contrib=True))[:, :-1]
        contributions = native * self.slope  # Platt scales each contribution by its slope
        reasons = []
        for row in contributions:
            positive = [(FEATURES[j], float(row[j])) for j in range(len(FEATURES)) if row[j] > 0]
            positive.sort(key=lambda pair: -pair[1])
            reasons.append(positive[:top])
        return reasons


def load_reference(settings: Settings) -> Reference:
    """The version behind the live alias, read with MLflow's client and flavour."""
    uri = str(settings.tracking_uri)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    alias = settings.live_alias
    version = client.get_model_version_by_alias(settings.model_name, alias)
    run = client.get_run(version.run_id)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    uri_of_model = f"models:/{settings.model_name}/{version.version}"
    booster = mlflow.lightgbm.load_model(uri_of_model)
    assert isinstance(booster, lgb.Booster), type(booster)
    metadata = mlflow.models.get_model_info(uri_of_model).metadata or {}
    # the fixtures train with the default steps: Time dropped, a Platt calibration
    time_feature = metadata.get("time_feature", "raw")
    assert time_feature in ("raw", "drop"), metadata
    scale = metadata.get("probability_scale", "raw")
    assert scale in ("raw", "platt"), scale
    platt = json.loads(metadata["calibration"]) if scale == "platt" else {}
    return Reference(
        slope=float(platt.get("slope", 1.0)),
        offset=float(platt.get("intercept", 0.0)) + float(platt.get("prior_shift", 0.0)),
        calibrated=scale == "platt",
        time_feature=time_feature,
        name=settings.model_name,
        alias=alias,
        version=int(version.version),
        threshold=float(version.tags["threshold"]),
        metrics={
            k.removeprefix("test_"): v for k, v in run.data.metrics.items() if k.startswith("test_")
        },
        booster=booster,
    )


def pick_rows(frame: pd.DataFrame, reference: Reference, *, each: int) -> list[dict[str, float]]:
    """``each`` rows the reference model alerts on and ``each`` it does not, interleaved, so
    decisions on both sides of the threshold are checked."""
    features = frame[list(FEATURES)]
    probability = reference.probability(features.to_numpy(dtype=np.float64))
    alerts = features[probability >= reference.threshold].head(each)
    calm = features[probability < reference.threshold].head(each)
    assert len(alerts) == each and len(calm) == each, "the model alerts on too few rows"
    rows: list[dict[str, float]] = []
    for a, c in zip(alerts.to_dict("records"), calm.to_dict("records"), strict=True):
        rows += [transaction(a), transaction(c)]
    return rows


MetricKey = tuple[str, frozenset[tuple[str, str]]]


def metric_samples(text: str) -> dict[MetricKey, float]:
    """Every sample of a Prometheus text page: (sample name, labels) -> value."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(samples: Mapping[MetricKey, float], name: str, **labels: str) -> float:
    """One sample's value; 0 when it is absent (a labelled series not yet created)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
