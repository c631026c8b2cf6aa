"""The transaction schema: shaped like the public ULB card-fraud set."""

from __future__ import annotations

import math

FEATURES: tuple[str, ...] = ("Time", *(f"V{i}" for i in range(1, 29)), "Amount")
"""Model inputs, in the order the model sees them."""

LABEL = "Class"
"""Optional label: 1 = fraud, 0 = legitimate."""

INVALID_LABEL = "Class_invalid"
"""Added beside ``Class`` to a scored file that has it: the label's text where it is neither
0, 1 nor empty (``x``, ``2``, ``-1``), empty elsewhere; such a row's ``Class`` is empty."""

ROW = "row"
"""1-based data-row number in the source file (the header is row 0)."""

NON_NEGATIVE: tuple[str, ...] = ("Time", "Amount")

TIME_MODES: tuple[str, ...] = ("raw", "drop", "hour_of_day")
"""How a model sees ``Time`` (its feature step, ``core.models.features``): as it is, not at
all, or as the hour of the day. Every input keeps ``Time``; only the model's view changes."""


def is_known_column(name: str) -> bool:
    """True for a feature or the label; anything else is a passthrough column."""
    return name in FEATURES or name == LABEL


def format_feature_value(name: str, value: float) -> str:
    """A feature value for people, to the digits it has, never in exponent notation.

    ``Time`` (seconds) as a whole number, ``Amount`` with two decimals, V1..V28 to at most
    three decimals with trailing zeros dropped: ``Time = 406``, ``Amount = 135200.00``,
    ``V14 = -9.124``, ``V3 = 33``.
    """
    if name == "Time":
        return f"{value:.0f}"
    if name == "Amount":
        return f"{value:.2f}"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_threshold(threshold: float) -> str:
    """A decision threshold as text: four significant digits, never an exponent.

    A calibrated version's threshold is a rate at the natural prevalence, often below 0.01
    (LightGBM on the real sample at F = 0.0173 cuts at 0.0066): four decimals would show
    it as 0.0066 or 0.0000. A raw-scale threshold such as 0.2764 reads as before.
    """
    if not 0.0 < threshold < 1.0:  # not a valid threshold; shown as it is
        return f"{threshold:.4f}"
    return f"{threshold:.{max(4, 3 - math.floor(math.log10(threshold)))}f}"


def format_brier(brier: float) -> str:
    """A Brier score as text: three significant digits, never an exponent, ``n/a`` for NaN.

    One rule for the pages and the command line. A model calibrated to the natural
    prevalence (0.17% fraud) scores near 0.0006: four decimals would show 0.0006 and five
    0.00063, so the digits follow the size: ``0.000626``, ``0.00123``, ``0.0123``, ``0.123``.
    """
    if brier != brier:  # NaN
        return "n/a"
    if not 0.0 < brier < 1.0:  # 0, 1 or not a Brier score; shown as it is
        return f"{brier:.3f}"
    rounded = float(f"{brier:.3g}")  # 0.00099996 is 0.00100, not 0.001000
    return f"{brier:.{max(3, 2 - math.floor(math.log10(rounded)))}f}"


UNKNOWN = "unknown"
"""What the pages and the command line write for a field that is not recorded."""


def count_text(value: int | None, noun: str = "", plural: str = "") -> str:
    """A count with thousands separators, or ``unknown``; with a ``noun``, the noun after
    it, singular for exactly one and plural otherwise (``plural``, or the noun plus "s"):
    ``1,234``, ``1 fraud``, ``0 frauds``, ``2 false alarms``, ``1 alias move``,
    ``unknown frauds``. The one way pages and the command line put a count before a noun.
    """
    number = UNKNOWN if value is None else f"{value:,}"
    return f"{number} {noun_for(value, noun, plural)}" if noun else number


def noun_for(value: int | None, noun: str, plural: str = "") -> str:
    """``noun`` as a count of ``value`` takes it: singular for exactly one, else ``plural``
    (or the noun plus "s"). Also for a verb after a count: ``noun_for(n, "waits", "wait")``."""
    return noun if value == 1 else plural or noun + "s"


def rate_text(value: float | None) -> str:
    """A fraud rate with the digits it has: ``0.17%``, ``9.09%``, ``0.012%``, or ``unknown``."""
    if value is None:
        return UNKNOWN
    return f"{value:.2%}" if value >= 0.001 else f"{value:.3%}"


PROBABILITY_SCALE_TEXT = {
    "raw": "raw model output (uncalibrated)",
    "platt": "calibrated (Platt)",
    "isotonic": "calibrated (isotonic)",
}


def scale_text(scale: str, sampling_fraction: float | None) -> str:
    """What a version's probabilities mean, in words (its ``probability_scale`` and the
    sampling fraction it was trained at), e.g. ``calibrated (Platt), at the natural
    prevalence (sampling fraction 0.0173)``."""
    text = PROBABILITY_SCALE_TEXT.get(scale, scale)
    if scale != "raw" and sampling_fraction is not None and sampling_fraction < 1.0:
        text += f", at the natural prevalence (sampling fraction {sampling_fraction:.4g})"
    return text
