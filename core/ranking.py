"""Where a score stands among a version's test split: pure maths on arrays.

A probability alone says little when a model's scores pile up near 0 and 1; its rank among
the rows the version was evaluated on says how unusual it is ("top 0.2%"). The sorted
scores are computed once per version by the caller (the pages cache them); here they are
only searched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScoreRank:
    """How many reference scores are at or above, and at or below, one score."""

    at_or_above: int
    at_or_below: int
    rows: int

    @property
    def top_share(self) -> float:
        """The share of reference rows scoring as high or higher (0 when above them all)."""
        return self.at_or_above / self.rows if self.rows else float("nan")

    @property
    def bottom_share(self) -> float:
        """The share of reference rows scoring as low or lower."""
        return self.at_or_below / self.rows if self.rows else float("nan")


def sort_scores(scores: np.ndarray) -> np.ndarray:
    """The reference scores, ascending, without NaN (what :func:`compute_rank` searches)."""
    values = np.asarray(scores, dtype=np.float64)
    return np.sort(values[~np.isnan(values)])


def compute_rank(sorted_scores: np.ndarray, score: float) -> ScoreRank:
    """The rank of ``score`` among ``sorted_scores`` (ascending, from :func:`sort_scores`).

    Ties count on both sides: a score equal to ten reference scores has those ten both
    "at or above" and "at or below" it, so a saturated score is never ranked above the
    rows it cannot be told apart from.

    Args:
        sorted_scores: the reference scores, ascending.
        score: the score to place.

    Returns:
        The counts at or above, at or below, and the number of reference rows.

    Raises:
        ValueError: ``score`` is NaN (it has no place: a search would put it above every
            row).
    """
    if np.isnan(score):
        raise ValueError("a NaN score has no rank")
    rows = len(sorted_scores)
    below = int(np.searchsorted(sorted_scores, score, side="left"))
    at_or_below = int(np.searchsorted(sorted_scores, score, side="right"))
    return ScoreRank(at_or_above=rows - below, at_or_below=at_or_below, rows=rows)
