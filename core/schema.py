"""The transaction schema: shaped like the public ULB card-fraud set."""

from __future__ import annotations

FEATURES: tuple[str, ...] = ("Time", *(f"V{i}" for i in range(1, 29)), "Amount")
"""Model inputs, in the order the model sees them."""

LABEL = "Class"
"""Optional label: 1 = fraud, 0 = legitimate."""

ROW = "row"
"""1-based data-row number in the source file (the header is row 0)."""

NON_NEGATIVE: tuple[str, ...] = ("Time", "Amount")

TIME_MODES: tuple[str, ...] = ("raw", "drop", "hour_of_day")
"""How a model sees ``Time`` (its feature step, ``core.models.features``): as it is, not at
all, or as the hour of the day. Every input keeps ``Time``; only the model's view changes."""


def is_known_column(name: str) -> bool:
    """True for a feature or the label; anything else is a passthrough column."""
    return name in FEATURES or name == LABEL
