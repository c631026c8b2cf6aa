"""The shared display texts of core.schema, against hand-written expectations."""

from __future__ import annotations

import pytest

from cli.common import metric_text
from core.schema import count_text, format_brier, noun_for


@pytest.mark.parametrize(
    ("brier", "text"),
    [
        (0.000626, "0.000626"),  # calibrated at the natural prevalence: not "0.0006"
        (0.00062649, "0.000626"),
        (0.00099996, "0.00100"),  # rounds up a decade: still three significant digits
        (0.00123, "0.00123"),
        (0.0123, "0.0123"),
        (0.0995, "0.0995"),
        (0.1234, "0.123"),
        (0.25, "0.250"),
        (0.0, "0.000"),
        (float("nan"), "n/a"),
    ],
)
def test_a_brier_score_keeps_three_significant_digits(brier: float, text: str) -> None:
    assert format_brier(brier) == text


def test_the_command_line_writes_brier_by_the_same_rule() -> None:
    assert metric_text(0.000626, None) == "0.000626"
    assert metric_text(None, None) == "n/a"
    assert metric_text(0.123456, 4) == "0.1235"  # other metrics keep their decimals


@pytest.mark.parametrize(
    ("value", "noun", "plural", "text"),
    [
        (1, "fraud", "", "1 fraud"),  # "1 frauds" was the fault
        (0, "fraud", "", "0 frauds"),
        (2, "fraud", "", "2 frauds"),
        (1234, "row", "", "1,234 rows"),
        (None, "fraud", "", "unknown frauds"),
        (1, "false alarm", "", "1 false alarm"),
        (3, "analysis", "analyses", "3 analyses"),
        (5412, "", "", "5,412"),  # no noun: the number alone, as before
        (None, "", "", "unknown"),
    ],
)
def test_a_count_takes_the_singular_only_for_one(
    value: int | None, noun: str, plural: str, text: str
) -> None:
    assert count_text(value, noun, plural) == text


def test_a_numpy_count_of_one_is_singular_too() -> None:
    import numpy as np

    assert count_text(np.int64(1), "alert") == "1 alert"
    assert noun_for(np.int64(1), "scores", "score") == "scores"
    assert noun_for(2, "scores", "score") == "score"


def test_a_probability_scale_in_words() -> None:
    from core.schema import scale_text

    assert scale_text("raw", 0.01) == "raw model output (uncalibrated)"  # no prior shift
    assert scale_text("platt", 1.0) == "calibrated (Platt)"
    assert scale_text("isotonic", None) == "calibrated (isotonic)"
    assert scale_text("platt", 0.0173) == (
        "calibrated (Platt), at the natural prevalence (sampling fraction 0.0173)"
    )
