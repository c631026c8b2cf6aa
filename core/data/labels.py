"""The optional ``Class`` of a file to be scored: a bad label never stops a row from being
scored. It is set empty (NaN), named in a warning, and, unless it was empty, kept as text
so the scored outputs can show it (``core.schema.INVALID_LABEL``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.schema import LABEL

EXAMPLES = 5
"""Label problems quoted in a warning."""


@dataclass(frozen=True)
class ScoringLabels:
    """A chunk's labels for scoring.

    Attributes:
        labels: 0/1, NaN where empty or bad.
        warning: one line about the rows scored despite a bad or empty label, or None.
        invalid: the text of the bad labels that were not empty, indexed by row number.
    """

    labels: pd.Series
    warning: str | None
    invalid: pd.Series


def check_scoring_labels(
    raw: pd.Series, labels: pd.Series, problems: list[pd.DataFrame], *, not_scored: pd.Index
) -> ScoringLabels:
    """Blank the bad labels of rows that will be scored, and say which they were.

    Args:
        raw: the ``Class`` cells as read.
        labels: the same as numbers (``core.data.loader`` checked them).
        problems: the label problems found, one frame per check (``column``, ``reason``).
        not_scored: rows rejected for another reason (or blank lines): not about them.

    Returns:
        The labels to keep, the warning and the bad labels' text.
    """
    bad_rows = raw.index[:0]
    warning = None
    if problems:
        bad = pd.concat(problems).sort_index()
        bad = bad[~bad.index.isin(not_scored)]
        labels = labels.where(~labels.index.isin(bad.index))
        if len(bad):
            warning = label_warning(bad)
        bad_rows = bad.index.unique()
    kept = raw.loc[bad_rows]
    text = label_text(kept[kept.notna()])
    # only spaces is an empty label: unlabelled, not invalid (empty in both columns)
    return ScoringLabels(labels, warning, text[text.str.len() > 0])


def label_text(raw: pd.Series) -> pd.Series:
    """Label cells as text: as written, or a number the parser read as one, with the
    digits it has (``2``, ``-1``, ``1.0000001``, ``123456789``)."""
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return raw.astype(np.float64).map(_number_text).astype("string")
    return raw.astype(str).str.strip().astype("string")


def _number_text(value: float) -> str:
    """A whole number without a decimal point, any other the shortest text that reads
    back as it (``repr``); never rounded as ``{:g}`` would (1.0000001 -> "1")."""
    return str(int(value)) if value.is_integer() else repr(value)


def label_warning(bad: pd.DataFrame) -> str:
    """One line for the rows kept despite a bad label: how many, which, and a few why."""
    rows = bad.index.unique()
    shown = "; ".join(
        f"row {row}: {reason.removeprefix(LABEL + ': ')}"
        for row, reason in bad["reason"].iloc[:EXAMPLES].items()
    )
    more = f"; ... {len(rows) - EXAMPLES} more" if len(rows) > EXAMPLES else ""
    return (
        f"{LABEL}: {len(rows)} row(s) with a bad or empty label were scored and their label "
        f"ignored ({shown}{more})"
    )
