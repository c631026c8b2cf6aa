"""The calibration view (app/ui/calibration_view.py), rendered alone with AppTest."""

from __future__ import annotations

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
    assert [m.value for m in at.metric] == [
        f"{report.brier_before:.5f}",
        f"{report.brier_after:.5f}",
    ]
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
