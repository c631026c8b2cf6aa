"""Drift statistics from binned counts: pure numpy, no storage, no registry.

A column's reference is a quantile sketch: sorted ``edges`` (the distinct quantiles of the
reference data) and ``cdf``, the reference's share at or below each edge (exact, ties
included, weighted where the reference is). Any data is summarised on those edges as
``len(edges) + 1`` counts with **open outer bins**:

    bin 0: (-inf, e_0]    bin k: (e_{k-1}, e_k]    bin n: (e_{n-1}, +inf)

plus the sums of how far values fall below ``e_0`` and above ``e_{n-1}``. Counts add: the
summary of a week of traffic is the sum of its days'. From them:

- **PSI** on about ten reference-quantile groups of the bins (the outer bins belong to the
  outer groups, so values outside the reference's range count);
- the **KS** statistic, the largest gap between the two CDFs at the edges (a lower bound
  of the exact statistic: the gap inside a bin is not seen; at most one bin's share);
- the **Wasserstein** distance, taking values as spread evenly inside each bin and the
  tails exactly from the outer sums, divided by the reference's standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_TAIL = np.geomspace(1e-5, 1e-2, 16)
LEVELS = np.unique(np.concatenate([np.linspace(0.0, 1.0, 101), _TAIL, 1.0 - _TAIL]))
"""Quantile levels of a sketch (131): every percentile, and 15 more in each outer 1%.
The outer bins are where evenly-spread values inside a bin is least true (a long Amount
tail; the score's top 1%, where a fraud model's threshold sits): percentiles alone put the
binned Wasserstein distance of a shifted log-normal 3x off; with the tails, within 2%."""
PSI_GROUPS = 10
"""PSI compares the shares in this many reference-quantile groups (deciles)."""
PSI_FLOOR = 1e-4
"""An empty group's share in the PSI (log of zero otherwise)."""


@dataclass(frozen=True)
class ColumnSketch:
    """A column's reference: distinct quantiles and the exact CDF at each.

    Attributes:
        edges: the distinct quantile values, ascending (at least one).
        cdf: the reference's (weighted) share at or below each edge; the last is 1.
        mean, std: the reference's (weighted) mean and standard deviation.
        rows: reference rows behind it (unweighted).
    """

    edges: np.ndarray
    cdf: np.ndarray
    mean: float
    std: float
    rows: int

    @property
    def bins(self) -> int:
        return len(self.edges) + 1

    @property
    def constant(self) -> bool:
        return len(self.edges) == 1 or self.std == 0.0

    def masses(self) -> np.ndarray:
        """The reference's share in each bin (``bins`` values summing to 1)."""
        return np.diff(np.concatenate([[0.0], self.cdf, [1.0]]))


def compute_sketch(
    values: np.ndarray, *, levels: np.ndarray, weights: np.ndarray | None = None
) -> ColumnSketch:
    """The sketch of one column (non-finite values left out).

    Args:
        values: the reference values.
        levels: quantile levels in [0, 1], ascending, including 0 and 1.
        weights: a weight per value (e.g. 1 / sampling fraction for legitimate rows).

    Returns:
        The column's sketch.

    Raises:
        ValueError: no finite value.
    """
    values = np.asarray(values, dtype=np.float64)
    w = np.ones(len(values)) if weights is None else np.asarray(weights, dtype=np.float64)
    finite = np.isfinite(values)
    values, w = values[finite], w[finite]
    if not len(values):
        raise ValueError("no finite value to sketch")
    order = np.argsort(values, kind="stable")
    ranked, cumulative = values[order], np.cumsum(w[order])
    total = cumulative[-1]
    share = cumulative / total
    # inverted-CDF quantiles: the first value whose cumulative share reaches the level
    at = np.minimum(np.searchsorted(share, levels * (1 - 1e-12), side="left"), len(ranked) - 1)
    edges = np.unique(ranked[at])
    cdf = share[np.searchsorted(ranked, edges, side="right") - 1]
    cdf[-1] = 1.0
    mean = float(np.sum(w * values) / total)
    std = float(np.sqrt(np.sum(w * (values - mean) ** 2) / total))
    return ColumnSketch(edges=edges, cdf=cdf, mean=mean, std=std, rows=len(values))


@dataclass
class BinCounts:
    """Data summarised on a sketch's bins: adds with ``+``.

    Attributes:
        counts: rows per bin (``len(edges) + 1``), the outer bins open.
        below: the sum of ``e_0 - x`` over the values below the first edge.
        above: the sum of ``x - e_last`` over the values above the last edge.
        missing: values left out because they were NaN or infinite.
    """

    counts: np.ndarray
    below: float = 0.0
    above: float = 0.0
    missing: int = 0

    @property
    def rows(self) -> int:
        return int(self.counts.sum())

    def __add__(self, other: BinCounts) -> BinCounts:
        if len(self.counts) != len(other.counts):
            raise ValueError("counts on different bins cannot be added")
        return BinCounts(
            counts=self.counts + other.counts,
            below=self.below + other.below,
            above=self.above + other.above,
            missing=self.missing + other.missing,
        )


TAIL_CAP = 1e100
"""How far beyond the reference range one value counts at most in the tail sums. Any finite
float is a valid input, and two near the float limit (1e308) sum to infinity, which would
make the distance of every period holding them infinite; capped, it is only very large."""


def count_bins(values: np.ndarray, edges: np.ndarray) -> BinCounts:
    """Summarise ``values`` on the bins of ``edges`` (see the module's docstring).

    The values are sorted once and the edges looked up in them: numpy's vectorised sort
    and 131 searches take a sixth of the time of a search per value (50,000 values x 31
    columns: 13 ms against 75 ms), which keeps batch scoring within 5% of its speed
    without the counts.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    missing = int(len(values) - np.count_nonzero(finite))
    ordered = np.sort(values[finite] if missing else values)
    at_or_below = np.searchsorted(ordered, edges, side="right")  # values <= each edge
    counts = np.diff(at_or_below, prepend=0, append=len(ordered)).astype(np.int64)
    low, high = edges[0], edges[-1]
    under = int(np.searchsorted(ordered, low, side="left"))  # values < the first edge
    below = float(np.sum(np.minimum(low - ordered[:under], TAIL_CAP))) if under else 0.0
    tail = ordered[at_or_below[-1] :] - high
    above = float(np.sum(np.minimum(tail, TAIL_CAP))) if counts[-1] else 0.0
    return BinCounts(counts=counts, below=below, above=above, missing=missing)


def psi_groups(sketch: ColumnSketch, groups: int = PSI_GROUPS) -> np.ndarray:
    """Which PSI group each bin belongs to: the bins split where the reference's CDF
    first reaches each 1/groups step (fewer groups where ties leave no edge between)."""
    steps = np.arange(1, groups) / groups
    bounds = np.unique(np.searchsorted(sketch.cdf, steps * (1 - 1e-12), side="left"))
    bounds = bounds[bounds < len(sketch.edges) - 1]  # the last edge closes the last group
    return np.searchsorted(bounds, np.arange(sketch.bins), side="left")


def compute_psi(sketch: ColumnSketch, current: BinCounts) -> float:
    """Population stability index of ``current`` against the reference, on PSI groups."""
    group = psi_groups(sketch)
    reference = np.bincount(group, weights=sketch.masses())
    observed = np.bincount(group, weights=current.counts) / max(current.rows, 1)
    p = np.maximum(reference, PSI_FLOOR)
    q = np.maximum(observed, PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def compute_ks(sketch: ColumnSketch, current: BinCounts) -> float:
    """The KS statistic at the sketch's edges (a lower bound of the exact one)."""
    rows = max(current.rows, 1)
    observed = np.cumsum(current.counts[:-1]) / rows  # the current CDF at each edge
    return float(np.max(np.abs(observed - sketch.cdf)))


def ks_pvalue(statistic: float, reference_rows: int, current_rows: int) -> float:
    """The asymptotic two-sample KS p-value: information only (at these sizes any
    difference is "significant")."""
    if reference_rows <= 0 or current_rows <= 0:
        return float("nan")
    # scipy.stats costs ~1 s to import: here, not where scoring imports this module
    from scipy.stats import kstwobign

    n = reference_rows * current_rows / (reference_rows + current_rows)
    return float(kstwobign.sf(np.sqrt(n) * statistic))


def compute_wasserstein(sketch: ColumnSketch, current: BinCounts) -> float:
    """Wasserstein-1 distance divided by the reference's standard deviation (NaN for a
    constant reference)."""
    if sketch.constant:
        return float("nan")
    rows = max(current.rows, 1)
    gap = np.cumsum(current.counts[:-1]) / rows - sketch.cdf  # at each edge
    width = np.diff(sketch.edges)
    start, end = gap[:-1], gap[1:]
    same_sign = start * end >= 0
    size = np.abs(start) + np.abs(end)
    # |gap| is linear across a bin: a trapezoid, or two triangles where it changes sign
    area = np.where(
        same_sign,
        width * size / 2,
        width * (start**2 + end**2) / (2 * np.where(size > 0, size, 1.0)),
    )
    tails = (current.below + current.above) / rows
    return float((np.sum(area) + tails) / sketch.std)
