"""Scoring latency as a small fixed-bucket histogram, stored per scoring event
(``scoring_events.latency_ms``): percentiles over any window come from summed histograms,
not from rows. Apart from ``core.monitoring`` so that scoring, which fills it, does not
import the monitoring queries (and what they import)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

LATENCY_EDGES_MS = tuple(float(f"{e:.4g}") for e in np.geomspace(0.5, 60_000.0, 31))
"""31 log-spaced edges, 0.5 ms to 60 s: 30 buckets, each ~1.48x the one before. A sample
below the first edge counts in the first bucket, above the last in the last."""


@dataclass(frozen=True)
class LatencyHistogram:
    """Latency samples counted on fixed millisecond buckets; adds with ``+``.

    Attributes:
        edges_ms: bucket edges (``len(counts) + 1``), ascending.
        counts: samples per bucket.
    """

    edges_ms: tuple[float, ...]
    counts: np.ndarray

    @property
    def samples(self) -> int:
        return int(self.counts.sum())

    def __add__(self, other: LatencyHistogram) -> LatencyHistogram:
        if other.edges_ms != self.edges_ms:
            raise ValueError("latency histograms on different buckets cannot be added")
        return LatencyHistogram(self.edges_ms, self.counts + other.counts)

    def percentile(self, q: float) -> float | None:
        """The ``q``-th percentile (0-100) in ms, linear within its bucket; None when empty.

        Exact to within one bucket (~48% of its value at this resolution).
        """
        total = int(self.counts.sum())
        if total == 0:
            return None
        cumulative = np.cumsum(self.counts)
        target = q / 100 * total
        # the bucket where the cumulative count reaches the target, then linear within it
        i = int(np.searchsorted(cumulative, target, side="left")) if target > 0 else 0
        i = int(np.flatnonzero(self.counts)[0]) if target <= 0 else min(i, len(self.counts) - 1)
        before = cumulative[i] - self.counts[i]
        fraction = (target - before) / self.counts[i]
        low, high = self.edges_ms[i], self.edges_ms[i + 1]
        return float(low + fraction * (high - low))

    def to_json(self) -> str:
        return json.dumps(
            {"edges_ms": list(self.edges_ms), "counts": self.counts.tolist()},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> LatencyHistogram:
        raw = json.loads(text)
        return cls(tuple(float(e) for e in raw["edges_ms"]), np.asarray(raw["counts"], np.int64))


def compute_latency_histogram(samples_ms: Iterable[float] | np.ndarray) -> LatencyHistogram:
    """Count latency samples (milliseconds) on :data:`LATENCY_EDGES_MS`."""
    values = np.asarray(list(samples_ms) if not isinstance(samples_ms, np.ndarray) else samples_ms)
    edges = np.asarray(LATENCY_EDGES_MS)
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    counts = np.bincount(index.astype(np.int64), minlength=len(edges) - 1).astype(np.int64)
    return LatencyHistogram(LATENCY_EDGES_MS, counts)


def sum_latency_histograms(texts: Iterable[str | None]) -> LatencyHistogram | None:
    """The sum of stored histograms (JSON; missing ones, None or NaN as pandas has them,
    and ones on other buckets skipped), or None."""
    total: LatencyHistogram | None = None
    for text in texts:
        if not isinstance(text, str) or not text:
            continue
        histogram = LatencyHistogram.from_json(text)
        if histogram.edges_ms != LATENCY_EDGES_MS:
            continue
        total = histogram if total is None else total + histogram
    return total
