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
