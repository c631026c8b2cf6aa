"""Split transactions by time: the model is always judged on data later than it saw."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from core.errors import InputError
from core.schema import LABEL

MIN_FRAUDS_PER_SPLIT = 2


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }


def split_by_time(frame: pd.DataFrame, *, validation: float = 0.2, test: float = 0.2) -> Split:
    """Cut a labelled frame into train / validation / test in ``Time`` order (no shuffling).

    Args:
        frame: transactions with ``Time`` and ``Class``.
        validation: share of rows for validation (early stopping, threshold).
        test: share of rows for the final test (metrics only).

    Returns:
        The three parts, each in time order.

    Raises:
        InputError: shares out of range, or a part without enough frauds or legitimate rows.
    """
    if not (0 < validation < 1 and 0 < test < 1 and validation + test < 1):
        raise InputError(f"bad split shares: validation={validation}, test={test}")
    ordered = frame.sort_values("Time", kind="stable")
    n = len(ordered)
    first_val = round(n * (1 - validation - test))
    first_test = round(n * (1 - test))
    parts = Split(
        train=ordered.iloc[:first_val],
        validation=ordered.iloc[first_val:first_test],
        test=ordered.iloc[first_test:],
    )
    for name, part in (
        ("train", parts.train),
        ("validation", parts.validation),
        ("test", parts.test),
    ):
        frauds = int(part[LABEL].sum())
        if frauds < MIN_FRAUDS_PER_SPLIT or frauds == len(part):
            raise InputError(
                f"the {name} split ({len(part)} rows by time) has {frauds} frauds; each split "
                f"needs at least {MIN_FRAUDS_PER_SPLIT} frauds and some legitimate rows. "
                f"The data has {int(frame[LABEL].sum())} frauds in {n} rows: use more data."
            )
    return parts
