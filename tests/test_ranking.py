"""The rank of a score among a version's test split, the reasons both ways, and feature
values as text: pure functions on hand-made inputs."""

from __future__ import annotations

import numpy as np
import pytest

from core.explain import Contributions, compute_reasons
from core.ranking import ScoreRank, compute_rank, sort_scores
from core.schema import format_feature_value
from tests.conftest import Trained

# Eight scores, two tied at 0.9 and two at 0.0; a NaN that must not count.
SCORES = np.array([0.9, 0.1, 0.0, 0.5, 0.9, np.nan, 0.0, 0.3, 0.99])


def test_sort_scores_drops_nan_and_sorts() -> None:
    assert sort_scores(SCORES).tolist() == [0.0, 0.0, 0.1, 0.3, 0.5, 0.9, 0.9, 0.99]


@pytest.mark.parametrize(
    ("score", "above", "below"),
    [
        (0.995, 0, 8),  # above every row
        (0.99, 1, 8),  # equal to the top row: it counts on both sides
        (0.9, 3, 7),  # the two tied rows and 0.99 are at or above
        (0.4, 3 + 1, 4),  # 0.5, 0.9, 0.9, 0.99 above; 0, 0, 0.1, 0.3 below
        (0.0, 8, 2),  # tied with the two zeros
        (-1.0, 8, 0),  # below every row
    ],
)
def test_rank_counts_at_or_above_and_at_or_below(score: float, above: int, below: int) -> None:
    rank = compute_rank(sort_scores(SCORES), score)
    assert rank == ScoreRank(at_or_above=above, at_or_below=below, rows=8)


def test_rank_shares() -> None:
    rank = compute_rank(sort_scores(SCORES), 0.9)
    assert rank.top_share == 3 / 8 and rank.bottom_share == 7 / 8


def test_reasons_toward_legitimate_are_the_negative_ones_most_negative_first() -> None:
    values = np.zeros((1, 30))
    values[0, [14, 4, 12, 17, 29]] = [2.5, -0.7, 1.2, -3.0, -0.7]  # V4 and Amount tie
    x = np.arange(30, dtype=float)[None, :]
    down = compute_reasons(Contributions(values, np.zeros(1)), x, toward_fraud=False)[0]
    assert [(r.feature, r.contribution) for r in down] == [
        ("V17", -3.0),
        ("V4", -0.7),
        ("Amount", -0.7),
    ]
    assert str(down[0]) == "V17 = 17 (-3.000)"


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("Amount", 135200.0, "135200.00"),  # not 1.352e+05
        ("Amount", 0.5, "0.50"),
        ("Time", 406.4, "406"),  # whole seconds
        ("Time", 172792.0, "172792"),
        ("V14", -9.12345, "-9.123"),
        ("V3", 33.0, "33"),
        ("V1", 1.5e-7, "0"),  # never 1.5e-07
        ("V2", -0.0001, "0"),  # no "-0"
        ("V5", 123456.5, "123456.5"),
    ],
)
def test_feature_values_as_text(name: str, value: float, text: str) -> None:
    assert format_feature_value(name, value) == text


def test_a_nan_score_has_no_rank() -> None:
    """searchsorted puts NaN past every row: it would read "above every row"."""
    with pytest.raises(ValueError, match="NaN"):
        compute_rank(sort_scores(SCORES), float("nan"))


def test_the_pages_show_no_rank_for_a_nan_score(trained_embedded: Trained) -> None:
    from app.ui.ranks import rank_text

    settings, version = trained_embedded.settings, trained_embedded.result.version
    assert rank_text(settings, version, 0.5) is not None  # the version has a split to rank in
    assert rank_text(settings, version, float("nan")) is None
