"""A synthetic generator of ULB-shaped card transactions, with real signal to learn.

The public ULB set is 28 PCA components (V1..V28, variance falling with the index), seconds
since the first transaction (Time, two days) and the raw Amount. Frauds here differ in the
same components where they differ in the real set (V14, V12, V10, V17, V4, V11, V3, ...),
but by an amount that varies from fraud to fraud, so some are easy and many are subtle: a
model reaches a meaningful, not a perfect, AUPRC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from core.errors import InputError
from core.schema import FEATURES, LABEL

ULB_FRAUD_RATE = 0.00172
TWO_DAYS = 172_800.0
MAX_ROWS = 20_000_000
"""About 5 GB in memory: more is a typo, not a demo."""

# Standard deviations of V1..V28 in the ULB set (rounded): falling, as PCA components do.
_V_STD = np.array(
    [
        1.96,
        1.65,
        1.52,
        1.42,
        1.38,
        1.33,
        1.24,
        1.19,
        1.10,
        1.09,
        1.02,
        1.00,
        1.00,
        0.96,
        0.92,
        0.88,
        0.85,
        0.84,
        0.81,
        0.77,
        0.73,
        0.73,
        0.62,
        0.61,
        0.52,
        0.48,
        0.40,
        0.33,
    ]
)
# Mean shift of frauds in units of each component's std, after the real set's fraud means.
_FRAUD_SHIFT = {
    "V1": -1.2,
    "V2": 1.1,
    "V3": -2.2,
    "V4": 2.2,
    "V5": -1.0,
    "V6": -0.6,
    "V7": -2.0,
    "V9": -1.2,
    "V10": -2.5,
    "V11": 2.2,
    "V12": -3.0,
    "V14": -3.4,
    "V16": -2.2,
    "V17": -3.0,
    "V18": -1.2,
    "V19": 0.5,
}


def generate_transactions(
    rows: int,
    *,
    fraud_rate: float = ULB_FRAUD_RATE,
    seed: int = 0,
    drift: Mapping[str, float] | None = None,
    start_time: float = 0.0,
) -> pd.DataFrame:
    """Make ULB-shaped transactions sorted by ``Time``.

    Args:
        rows: number of transactions.
        fraud_rate: share of frauds (default 0.172%, as in the ULB set). At least one fraud
            is made whenever ``rows * fraud_rate >= 0.5``.
        seed: random seed; the same arguments give the same frame.
        drift: feature -> shift in standard deviations applied to every row, to simulate
            drift (for ``Amount`` the shift is applied to log-amount; ``Time`` cannot drift).
        start_time: seconds added to every ``Time`` (to make a later period).

    Returns:
        A frame with ``Time``, ``V1``..``V28``, ``Amount`` (float64) and ``Class`` (int8).

    Raises:
        InputError: a bad row count, fraud rate, seed, start time or drift.
    """
    if not 1 <= rows <= MAX_ROWS:
        raise InputError(f"rows must be at least 1 and at most {MAX_ROWS:,}, got {rows:,}")
    if not 0.0 <= fraud_rate < 1.0:  # also refuses NaN
        raise InputError(f"fraud_rate must be in [0, 1), got {fraud_rate}")
    if seed < 0:
        raise InputError(f"seed must be 0 or more, got {seed}")
    if not math.isfinite(start_time):
        raise InputError(f"start_time must be a finite number of seconds, got {start_time}")
    drift = dict(drift or {})
    unknown = sorted(set(drift) - set(FEATURES) | ({"Time"} & set(drift)))
    if unknown:
        raise InputError(f"cannot drift {', '.join(unknown)}; choose among V1..V28 and Amount")
    for name, shift in drift.items():
        if not math.isfinite(shift):
            raise InputError(f"drift {name}={shift}: expected a finite number of deviations")

    rng = np.random.default_rng(seed)
    n_fraud = round(rows * fraud_rate)
    label = np.zeros(rows, dtype=np.int8)
    label[rng.choice(rows, size=n_fraud, replace=False)] = 1
    fraud = label == 1

    # Student-t noise: PCA components of card data have heavy tails.
    v = rng.standard_t(df=5, size=(rows, 28)) * np.sqrt(3 / 5) * _V_STD
    # Each fraud shows the pattern with its own strength: a few are blatant, many subtle.
    strength = rng.gamma(shape=1.5, scale=0.6, size=n_fraud)[:, None]
    shift = np.zeros(28)
    for name, s in _FRAUD_SHIFT.items():
        shift[int(name[1:]) - 1] = s
    v[fraud] += strength * shift * _V_STD

    log_amount = rng.normal(3.0, 1.3, size=rows)
    small_test = rng.random(n_fraud) < 0.4  # fraudsters test cards with tiny amounts
    log_amount[fraud] = np.where(
        small_test, rng.uniform(-2.0, 0.7, n_fraud), rng.normal(4.2, 1.1, n_fraud)
    )
    time = _draw_times(rng, rows, fraud) + start_time

    for name, s in drift.items():
        if name == "Amount":
            log_amount += s * 1.3
        else:
            i = int(name[1:]) - 1
            v[:, i] += s * _V_STD[i]

    frame = pd.DataFrame(v, columns=[f"V{i}" for i in range(1, 29)])
    frame.insert(0, "Time", time)
    frame["Amount"] = np.round(np.exp(log_amount), 2)
    frame[LABEL] = label
    return frame.sort_values("Time", kind="stable").reset_index(drop=True)


def _draw_times(rng: np.random.Generator, rows: int, fraud: np.ndarray) -> np.ndarray:
    """Seconds over two days: legitimate traffic follows the day, fraud less so."""
    hour_weight = 0.25 + np.clip(np.sin((np.arange(24) - 6) / 24 * 2 * np.pi), 0, None) * 1.5
    hour_weight[:6] = 0.15
    hours = rng.choice(48, size=rows, p=np.tile(hour_weight, 2) / np.tile(hour_weight, 2).sum())
    flat_hours = rng.integers(0, 48, size=rows)
    hours = np.where(fraud & (rng.random(rows) < 0.5), flat_hours, hours)
    return np.round(hours * 3600.0 + rng.uniform(0, 3600, size=rows))
