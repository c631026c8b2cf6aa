"""Production traffic summarised on a version's reference bins, as scoring goes.

Each scoring event stores one :class:`DriftCounts` (features and score counted on the
version's sketch bins); drift over any window is then the sum of its events' counts, with
no second pass over the rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from core.drift.sketch import ReferenceSketch
from core.drift.stats import BinCounts, count_bins
from core.schema import FEATURES

SCORE = "score"
"""The key of the score's counts next to the features'."""


@dataclass
class DriftCounts:
    """Rows summarised on one sketch's bins; adds with ``+``.

    Attributes:
        sketch_id: the sketch whose bins these are (:attr:`ReferenceSketch.sketch_id`).
        columns: feature name (and ``score``) -> its counts.
    """

    sketch_id: str
    columns: dict[str, BinCounts]

    @property
    def rows(self) -> int:
        return max((c.rows + c.missing for c in self.columns.values()), default=0)

    def __add__(self, other: DriftCounts) -> DriftCounts:
        if other.sketch_id != self.sketch_id:
            raise ValueError("counts on different sketches cannot be added")
        return DriftCounts(
            sketch_id=self.sketch_id,
            columns={name: c + other.columns[name] for name, c in self.columns.items()},
        )

    def to_json(self) -> str:
        """Compact JSON: a column's counts as a list, or as ``{index: count}`` when most
        bins are empty (a single scored row)."""

        def column(c: BinCounts) -> dict[str, object]:
            nonzero = np.flatnonzero(c.counts)
            counts: object = (
                {str(i): int(c.counts[i]) for i in nonzero}
                if 2 * len(nonzero) < len(c.counts)
                else c.counts.tolist()
            )
            out: dict[str, object] = {"n": len(c.counts), "counts": counts}
            for key in ("below", "above", "missing"):
                if getattr(c, key):
                    out[key] = getattr(c, key)
            return out

        return json.dumps(
            {"sketch": self.sketch_id, "columns": {k: column(v) for k, v in self.columns.items()}},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> DriftCounts:
        raw = json.loads(text)

        def column(c: dict[str, object]) -> BinCounts:
            stored = c["counts"]
            if isinstance(stored, dict):
                counts = np.zeros(int(c["n"]), dtype=np.int64)  # type: ignore[call-overload]
                for i, n in stored.items():
                    counts[int(i)] = int(n)
            else:
                counts = np.asarray(stored, dtype=np.int64)
            return BinCounts(
                counts=counts,
                below=float(c.get("below", 0.0)),  # type: ignore[arg-type]
                above=float(c.get("above", 0.0)),  # type: ignore[arg-type]
                missing=int(c.get("missing", 0)),  # type: ignore[call-overload]
            )

        return cls(
            sketch_id=raw["sketch"],
            columns={name: column(c) for name, c in raw["columns"].items()},
        )


def count_rows(
    sketch: ReferenceSketch, features: np.ndarray, scores: np.ndarray | None
) -> DriftCounts:
    """Summarise scored rows on the sketch's bins.

    Args:
        sketch: the version's reference sketch.
        features: (rows, 30) float64 in schema order.
        scores: the version's scores of those rows (its stored scale), or None.

    Returns:
        The rows' counts, to store with the scoring event.
    """
    by_column = np.asfortranarray(features)  # each column contiguous for its sort
    columns = {
        name: count_bins(by_column[:, j], sketch.columns[name].edges)
        for j, name in enumerate(FEATURES)
        if name in sketch.columns
    }
    if scores is not None and sketch.score is not None:
        columns[SCORE] = count_bins(scores, sketch.score.edges)
    return DriftCounts(sketch_id=sketch.sketch_id, columns=columns)
