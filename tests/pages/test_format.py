"""The pages' probability and rank texts, against hand-written expectations."""

from __future__ import annotations

import pytest

from app.ui.format import format_probability, format_rank
from core.ranking import ScoreRank


@pytest.mark.parametrize(
    ("probability", "text"),
    [
        (0.9999996, "> 99.9%"),  # the demo fraud row, shown as "100.0000%" before
        (1.0, "> 99.9%"),
        (0.99951, "> 99.9%"),
        (0.999, "99.90%"),  # 0.001 from 1: two decimals, not a bound
        (0.9958, "99.58%"),
        (0.987, "98.7%"),
        (0.5, "50.0%"),
        (0.12345, "12.3%"),
        (0.0123, "1.2%"),
        (0.0042, "0.42%"),
        (0.001, "0.10%"),
        (0.0009, "0.09%"),
        (0.00017562, "0.018%"),  # a threshold calibrated to the natural prevalence
        (0.0000123, "0.0012%"),
        (0.000001, "0.0001%"),
        (0.0000004, "< 0.0001%"),  # the "0.0004%" beside a gauge's "0.00%"
        (0.0, "< 0.0001%"),
        (float("nan"), "n/a"),
    ],
)
def test_probability_has_the_digits_it_has(probability: float, text: str) -> None:
    assert format_probability(probability) == text


@pytest.mark.parametrize(
    ("rank", "text"),
    [
        (
            ScoreRank(at_or_above=11, at_or_below=5402, rows=5412),
            "top 0.2% of the test split (11 of 5,412 rows score as high or higher)",
        ),
        (
            ScoreRank(at_or_above=1, at_or_below=30000, rows=30000),
            "top 0.0033% of the test split (1 of 30,000 rows scores as high or higher)",
        ),
        (
            ScoreRank(at_or_above=300, at_or_below=701, rows=1000),
            "top 30% of the test split (300 of 1,000 rows score as high or higher)",
        ),
        (
            ScoreRank(at_or_above=990, at_or_below=12, rows=1000),
            "bottom 1.2% of the test split (12 of 1,000 rows score as low or lower)",
        ),
        (  # 9.96%: rounds to ten, so whole like every share above 10%, not "10.0%"
            ScoreRank(at_or_above=996, at_or_below=9005, rows=10000),
            "top 10% of the test split (996 of 10,000 rows score as high or higher)",
        ),
        (  # 0.996%: rounds to one, so one decimal like every share above 1%, not "1%"
            ScoreRank(at_or_above=996, at_or_below=99005, rows=100000),
            "top 1.0% of the test split (996 of 100,000 rows score as high or higher)",
        ),
        (
            ScoreRank(at_or_above=0, at_or_below=1000, rows=1000),
            "above every row of the test split (1,000 rows)",
        ),
        (
            ScoreRank(at_or_above=1000, at_or_below=0, rows=1000),
            "below every row of the test split (1,000 rows)",
        ),
        (  # one row: "1 of 1 rows score" was the fault
            ScoreRank(at_or_above=1, at_or_below=1, rows=1),
            "bottom 100% of the test split (1 of 1 row scores as low or lower)",
        ),
        (
            ScoreRank(at_or_above=0, at_or_below=1, rows=1),
            "above every row of the test split (1 row)",
        ),
    ],
)
def test_rank_text(rank: ScoreRank, text: str) -> None:
    assert format_rank(rank) == text
