"""The calibration view (app/ui/calibration_view.py), rendered alone with AppTest."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.artifacts import get_reliability
from tests.conftest import Trained


def _view(home: str, model_name: str, version: int) -> None:
    from app.ui.calibration_view import render_calibration
    from core.config import Settings
    from core.registry import get_version

    settings = Settings(home=home, model_name=model_name)
    render_calibration(settings, get_version(settings, version))


def test_the_view_shows_brier_before_and_after_and_the_diagram(
    trained_embedded: Trained,
) -> None:
    settings, result = trained_embedded.settings, trained_embedded.result
    kwargs = {"home": str(settings.home), "model_name": settings.model_name}
    at = AppTest.from_function(
        _view, kwargs={**kwargs, "version": result.version}, default_timeout=60
    ).run()
    assert not at.exception
    report = get_reliability(settings, result.run_id)
    shown = [m.value for m in at.metric]
    # three significant digits (core.schema.format_brier), the same rule as Home
    for text, value in zip(shown, (report.brier_before, report.brier_after), strict=True):
        assert float(text) == pytest.approx(value, rel=5e-3)
        assert len(text.replace(".", "").lstrip("0")) == 3, text
    assert "calibrated (Platt)" in at.markdown[0].value
    chart = at.get("plotly_chart")
    assert len(chart) == 1


def _report(scale: str, losses: dict[str, float]):  # type: ignore[no-untyped-def]
    from core.reliability import ReliabilityCurve, ReliabilityReport

    empty = ReliabilityCurve(predicted=[], observed=[], rows=[], frauds=[])
    return ReliabilityReport(
        probability_scale=scale,
        sampling_fraction=1.0,
        brier_before=0.1,
        brier_after=0.1,
        before=empty,
        after=empty,
        validation_log_loss=losses,
        folds=5,
    )


def test_the_caption_says_whether_the_method_was_chosen_or_asked_for() -> None:
    from app.ui.calibration_view import method_caption

    auto = _report("platt", {"raw": 0.0045, "platt": 0.0036, "isotonic": 0.0045})
    assert method_caption(auto) == (
        "Method chosen on validation (calibration auto): Platt unless isotonic has the "
        "lower 5-fold out-of-fold log-loss: raw 0.0045, platt 0.0036, isotonic 0.0045."
    )
    # --calibration platt: only Platt was fitted, so nothing was chosen (here the raw
    # model's log-loss is even the lower one)
    asked = _report("platt", {"raw": 0.0482, "platt": 0.0496})
    assert method_caption(asked) == (
        "Method platt as asked for at training (not chosen); 5-fold out-of-fold log-loss "
        "on validation: raw 0.0482, platt 0.0496."
    )
    none = _report("raw", {"raw": 0.0482})
    assert method_caption(none) == (
        "Raw scale as asked for at training (calibration none); 5-fold out-of-fold "
        "log-loss on validation: raw 0.0482."
    )


@pytest.mark.parametrize(
    ("before", "after", "delta"),
    [
        (0.1, 0.1, None),  # the raw scale kept: no "+0" with an arrow
        (0.00062649, 0.00062601, None),  # both read 0.000626: no delta either
        (0.000700, 0.000626, "-0.0000740"),
        (0.0006, 0.0007, "+0.000100"),
        (0.0123, 0.00123, "-0.0111"),
    ],
)
def test_the_brier_delta_is_left_out_where_the_scores_read_the_same(
    before: float, after: float, delta: str | None
) -> None:
    from app.ui.calibration_view import brier_delta

    assert brier_delta(before, after) == delta
