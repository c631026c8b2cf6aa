"""Explain's beeswarm and dependence plot, drawn on the server as PNG images
(app/ui/explain_images.py)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import LogNorm
from PIL import Image

from app.ui.explain_images import beeswarm_figure, dependence_figure, to_png, value_rank

NAMES = [f"V{i}" for i in range(1, 31)]


def _frames(rows: int = 500) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    values = pd.DataFrame(rng.normal(size=(rows, 30)), columns=NAMES)
    return values, values * 0.5  # each contribution grows with its value


def beeswarm_png(features: pd.DataFrame, contributions: pd.DataFrame, order: list[str]) -> bytes:
    return to_png(beeswarm_figure(features, contributions, order))


def _image(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


def test_the_beeswarm_is_a_png_taller_with_more_features_and_the_same_each_time() -> None:
    features, contributions = _frames()
    twelve = beeswarm_png(features, contributions, NAMES[:12])
    assert twelve[:8] == b"\x89PNG\r\n\x1a\n"
    assert beeswarm_png(features, contributions, NAMES[:12]) == twelve  # seeded jitter
    figure = beeswarm_figure(features, contributions, NAMES)
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_yticklabels()] == NAMES
    top, second = (axes.transData.transform((0.0, y))[1] for y in (0, 1))
    assert top > second  # the first (most important) feature is drawn on top
    thirty = _image(to_png(figure))
    assert thirty.height > _image(twelve).height * 2  # 30 feature rows against 12
    assert thirty.width == _image(twelve).width


def test_low_values_are_blue_and_high_values_red() -> None:
    """One feature whose contribution grows with its value: the points on the left (low
    values) are drawn blue, those on the right red."""
    features, contributions = _frames(2_000)
    pixels = np.asarray(_image(beeswarm_png(features, contributions, ["V1"]))).astype(int)
    red, blue = pixels[..., 0], pixels[..., 2]
    coloured = np.abs(red - blue) > 60  # clearly red or clearly blue: the points
    columns = np.flatnonzero(coloured.any(axis=0))
    plot = columns[columns < pixels.shape[1] * 0.75]  # the colour bar is on the right
    left, right = plot[: len(plot) // 5], plot[-len(plot) // 5 :]

    def blueness(cols: np.ndarray) -> float:
        area = coloured[:, cols]
        return float((blue[:, cols][area] > red[:, cols][area]).mean())

    assert blueness(left) > 0.8
    assert blueness(right) < 0.2


def test_there_must_be_a_feature_to_draw() -> None:
    features, contributions = _frames(10)
    with pytest.raises(ValueError, match="no feature"):
        beeswarm_png(features, contributions, [])


def test_a_dependence_plot_of_amount_has_a_log_axis_written_as_amounts() -> None:
    features = pd.DataFrame({"V14": [-3.0, 0.0, 1.0, 2.0], "Amount": [0.0, 1.0, 10.0, 1000.0]})
    contributions = pd.DataFrame({"V14": [0.5, 0.1, -0.1, -0.2], "Amount": [0, 0.2, 0.1, 0.3]})
    axes = dependence_figure(features, contributions, "Amount", "V14").axes[0]
    assert axes.get_xscale() == "log"
    assert "0 drawn at 0.01" in axes.get_xlabel()
    # the Amount of 0 sits at the floor, the others where they are
    drawn = axes.collections[0].get_offsets()
    assert list(np.asarray(drawn)[:, 0]) == [0.01, 1.0, 10.0, 1000.0]
    assert axes.xaxis.get_major_formatter()(1000.0, 0) == "1,000"
    assert dependence_figure(features, contributions, "V14", "Amount").axes[0].get_xscale() == (
        "linear"
    )


def test_a_dependence_plot_coloured_by_amount_uses_a_log_colour_scale() -> None:
    features = pd.DataFrame({"V14": [-3.0, 0.0, 1.0, 2.0], "Amount": [0.0, 1.0, 10.0, 1000.0]})
    contributions = pd.DataFrame({"V14": [0.5, 0.1, -0.1, -0.2], "Amount": [0, 0, 0, 0.0]})
    figure = dependence_figure(features, contributions, "V14", "Amount")
    points = figure.axes[0].collections[0]
    # linear, 1,000 made the other three one colour; 0 drawn at 0.01
    assert isinstance(points.norm, LogNorm)
    assert list(points.get_array()) == [0.01, 1.0, 10.0, 1000.0]
    assert "log" in figure.axes[1].get_ylabel()
    # another colouring feature stays linear, its own values
    points = dependence_figure(features, contributions, "Amount", "V14").axes[0].collections[0]
    assert not isinstance(points.norm, LogNorm)
    assert list(points.get_array()) == [-3.0, 0.0, 1.0, 2.0]


def test_a_feature_is_not_coloured_by_itself() -> None:
    features, contributions = _frames(10)
    with pytest.raises(ValueError, match="by itself"):
        dependence_figure(features, contributions, "V3", "V3")


def test_equal_values_share_a_colour_in_the_beeswarm() -> None:
    """Ranks of ties are shared: a constant feature is one colour, equal Amounts too (a
    rank by position would paint them from blue to red); a missing value is not ranked."""
    # ranks 4, 1.5, 1.5, 3 of 4 values, scaled to 0..1
    assert list(value_rank(np.array([3.0, 1.0, 1.0, 2.0]))) == pytest.approx(
        [1.0, 1 / 6, 1 / 6, 2 / 3]
    )
    assert list(value_rank(np.zeros(5))) == [0.5] * 5
    assert np.isnan(value_rank(np.array([1.0, np.nan, 2.0]))[1])
    features = pd.DataFrame({"V1": np.zeros(40), "V2": np.arange(40.0)})
    contributions = pd.DataFrame({"V1": np.zeros(40), "V2": np.arange(40.0) / 10})
    figure = beeswarm_figure(features, contributions, ["V1", "V2"])
    constant, ramp = (c.get_array() for c in figure.axes[0].collections)
    assert len(set(constant)) == 1 and len(set(ramp)) == 40


def test_amounts_within_a_decade_are_labelled_as_amounts() -> None:
    """Between 2 and 8 there is no decade tick: the ticks between are labelled, in plain
    amounts (no scientific notation)."""
    features = pd.DataFrame({"V1": np.linspace(-1, 1, 50), "Amount": np.linspace(2, 8, 50)})
    figure = dependence_figure(features, features * 0.1, "Amount", "V1")
    to_png(figure)  # lays the ticks out
    labels = [t.get_text() for t in figure.axes[0].xaxis.get_minorticklabels() if t.get_text()]
    assert {"2", "3", "5"} <= set(labels), labels
    assert not any("$" in label for label in labels)


def test_a_dependence_plots_colour_spans_the_middle_90_percent() -> None:
    """One outlier must not paint every other row one colour."""
    colour = np.r_[np.linspace(-1.0, 1.0, 99), 40.0]
    features = pd.DataFrame({"V1": np.linspace(0, 1, 100), "V2": colour})
    figure = dependence_figure(features, features * 0.1, "V1", "V2")
    norm = figure.axes[0].collections[0].norm
    assert (norm.vmin, norm.vmax) == pytest.approx(tuple(np.percentile(colour, [5, 95])))
    assert norm.vmax < 2.0  # not 40
    assert "percentile" in figure.axes[1].get_ylabel()


def test_the_amount_axis_mentions_zeros_only_when_there_are_some() -> None:
    features = pd.DataFrame({"V1": np.linspace(0, 1, 5), "Amount": [0.06, 1, 10, 100, 1000]})
    axes = dependence_figure(features, features * 0.1, "Amount", "V1").axes[0]
    assert axes.get_xlabel() == "Amount (log axis)"
    features.loc[0, "Amount"] = 0.0
    axes = dependence_figure(features, features * 0.1, "Amount", "V1").axes[0]
    assert axes.get_xlabel() == "Amount (log axis; 0 drawn at 0.01)"
