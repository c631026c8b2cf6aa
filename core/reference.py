"""Reference statistics of a model's training features, stored with the model version.

Drift checks compare new data against the quantile bins; the form uses the medians as
defaults; the explain page shows fraud and legitimate medians next to a transaction.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.schema import FEATURES, LABEL

QUANTILE_BINS = 10
HISTOGRAM_BINS = 30


@dataclass(frozen=True)
class FeatureReference:
    median: float
    mean: float
    std: float
    median_fraud: float | None
    median_legit: float | None
    quantile_edges: list[float]
    quantile_shares: list[float]
    histogram_edges: list[float]
    histogram_counts: list[int]


@dataclass(frozen=True)
class ReferenceStats:
    rows: int
    features: dict[str, FeatureReference]

    def to_json(self) -> str:
        return json.dumps(
            {"rows": self.rows, "features": {k: asdict(v) for k, v in self.features.items()}}
        )

    @classmethod
    def from_json(cls, text: str) -> ReferenceStats:
        raw = json.loads(text)
        return cls(
            rows=int(raw["rows"]),
            features={k: FeatureReference(**v) for k, v in raw["features"].items()},
        )

    def medians(self) -> dict[str, float]:
        return {name: ref.median for name, ref in self.features.items()}


def compute_reference(frame: pd.DataFrame) -> ReferenceStats:
    """Summarise each feature of a (training) frame.

    Args:
        frame: transactions with the feature columns and optionally ``Class``.

    Returns:
        Per feature: median, mean, std, medians by class, decile edges with the share of
        rows in each bin, and an equal-width histogram over the 0.5%..99.5% range.
    """
    values = frame.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
    label = frame[LABEL].to_numpy() if LABEL in frame else None
    quantiles = np.quantile(values, np.linspace(0, 1, QUANTILE_BINS + 1), axis=0)
    medians = np.median(values, axis=0)
    fraud_medians = (
        np.median(values[label == 1], axis=0) if label is not None and (label == 1).any() else None
    )
    legit_medians = (
        np.median(values[label == 0], axis=0) if label is not None and (label == 0).any() else None
    )
    features: dict[str, FeatureReference] = {}
    for j, name in enumerate(FEATURES):
        column = values[:, j]
        edges = np.unique(quantiles[:, j])
        shares = (
            np.histogram(column, bins=edges)[0] / len(column) if len(edges) > 1 else np.array([1.0])
        )
        low, high = np.quantile(column, [0.005, 0.995])
        hist_counts, hist_edges = np.histogram(
            np.clip(column, low, high),
            bins=HISTOGRAM_BINS,
            range=(low, high) if high > low else None,
        )
        features[name] = FeatureReference(
            median=float(medians[j]),
            mean=float(column.mean()),
            std=float(column.std()),
            median_fraud=None if fraud_medians is None else float(fraud_medians[j]),
            median_legit=None if legit_medians is None else float(legit_medians[j]),
            quantile_edges=edges.tolist(),
            quantile_shares=shares.tolist(),
            histogram_edges=hist_edges.tolist(),
            histogram_counts=hist_counts.tolist(),
        )
    return ReferenceStats(rows=len(frame), features=features)
