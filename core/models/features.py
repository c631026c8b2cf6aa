"""The model's feature step: how a model of ours sees ``Time`` (pure numpy).

In the ULB data ``Time`` is seconds since the start of a two-day window: a model that
splits on it learns when that window's frauds happened, which says nothing about next
month. The step lives inside the model (its adapter applies it before every prediction and
explanation), so every input, file and API request keeps its 30 columns and ``Time`` stays
in the schema. A version records its mode in its MLmodel metadata and keeps it.

- ``raw``: ``Time`` as it is (every version trained before the step existed).
- ``drop``: ``Time`` replaced by the constant 0. The column stays, so contributions keep
  their 30 columns; a tree never splits on a constant and a scaled linear model gives it
  weight times 0, so its contribution is exactly 0 and any ``Time`` scores the same.
- ``hour_of_day``: ``Time`` replaced by ``(Time mod 86400) / 3600``, in [0, 24).
"""

from __future__ import annotations

import numpy as np

from core.errors import InputError
from core.schema import FEATURES, TIME_MODES

__all__ = ["SECONDS_PER_DAY", "TIME_COLUMN", "TIME_MODES", "apply_time_feature", "check_time_mode"]

TIME_COLUMN = FEATURES.index("Time")
SECONDS_PER_DAY = 86_400.0


def check_time_mode(mode: str) -> str:
    """The mode, checked against :data:`TIME_MODES`.

    Raises:
        InputError: an unknown mode (the message lists the valid ones).
    """
    if mode not in TIME_MODES:
        raise InputError(f"unknown time feature {mode!r}; choose one of {', '.join(TIME_MODES)}")
    return mode


def apply_time_feature(features: np.ndarray, mode: str) -> np.ndarray:
    """The model's view of a (rows, 30) array in ``FEATURES`` order.

    Args:
        features: the transactions' features.
        mode: one of :data:`TIME_MODES`.

    Returns:
        A (rows, 30) float64 array: for ``raw`` the input itself (no copy when it is
        already float64), otherwise a new array with the ``Time`` column replaced.

    Raises:
        InputError: an unknown mode.
    """
    check_time_mode(mode)
    x = np.asarray(features, dtype=np.float64)
    if mode == "raw":
        return x
    out = x.copy()
    if mode == "drop":
        out[:, TIME_COLUMN] = 0.0
    else:
        out[:, TIME_COLUMN] = np.mod(x[:, TIME_COLUMN], SECONDS_PER_DAY) / 3600.0
    return out
