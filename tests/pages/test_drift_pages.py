"""The Drift and Monitoring pages, in-process with AppTest: a drifted upload, production
traffic from scoring events, an empty window."""

from __future__ import annotations

import io
from datetime import date

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.data import generate_transactions
from core.scoring import resolve_model, score_file
from tests.conftest import REPO, Trained, analyst, settings_env

MAIN = str(REPO / "app" / "main.py")


@pytest.fixture
def app(trained_embedded: Trained, workbench_env: pytest.MonkeyPatch) -> AppTest:
    for key, value in settings_env(trained_embedded.settings).items():
        workbench_env.setenv(key, value)
    workbench_env.setenv("WORKBENCH_DEFAULT_ROLE", "analyst")  # any signed-in role may look
    return AppTest.from_file(MAIN, default_timeout=180)


def _open(app: AppTest, page: str) -> AppTest:
    app.run()
    return app.switch_page(str(REPO / "pages" / page)).run()


def _drifted(rows: int, seed: int) -> pd.DataFrame:
    return generate_transactions(rows, fraud_rate=0.01, seed=seed, drift={"V14": 2.0, "V4": 1.5})


def _text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def test_a_drifted_upload_shows_the_flagged_features_and_the_queue_line(app: AppTest) -> None:
    at = _open(app, "drift.py")
    at.radio[0].set_value("file").run()
    data = _drifted(4000, seed=21).to_csv(index=False).encode()
    at.file_uploader[0].set_value(("drifted.csv", data, "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    text = _text(at)
    assert "Drift found" in text
    flagged = next(m.value for m in at.markdown if m.value.startswith("**Flagged**"))
    assert "V14" in flagged and "V4" in flagged and "V1," not in flagged
    assert "alerts per day" in text and "expected at the reference's alert rate" in text
    table = at.dataframe[0].value
    assert list(table["feature"][:2]) in (["V14", "V4"], ["V4", "V14"])
    assert set(table["band"][:2]) == {"alert"}
    assert "Time" not in set(table["feature"])


def test_an_empty_window_says_so(app: AppTest) -> None:
    at = _open(app, "drift.py")
    at.selectbox[0].set_value("range").run()
    at.date_input[0].set_value((date(2020, 1, 1), date(2020, 1, 7)))
    at.run()
    assert not at.exception and not at.error
    assert "No scoring events with drift counts" in at.info[0].value
    assert "2020-01-01 to 2020-01-07" in at.info[0].value


def test_production_traffic_from_scoring_events(app: AppTest, trained_embedded: Trained) -> None:
    settings = trained_embedded.settings
    choice = resolve_model(settings)
    # Other tests score with the same session model in the same 7 days: enough drifted
    # rows that V14's shift shows through whatever else they scored (~30,000 rows).
    for seed in (31, 32, 33):
        buffer = io.BytesIO(_drifted(12_000, seed=seed).to_csv(index=False).encode())
        buffer.name = f"batch-{seed}.csv"
        score_file(buffer, settings=settings, choice=choice, source_kind="cli", actor=analyst("p"))
    at = _open(app, "drift.py")  # default: production traffic, last 7 days
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    text = _text(at)
    assert "Drift found" in text
    assert "scoring events" in text
    flagged = next(m.value for m in at.markdown if m.value.startswith("**Flagged**"))
    assert "V14" in flagged
    assert "alerts per day" in text
    assert at.get("plotly_chart"), "the heatmap and histogram are drawn"


def test_monitoring_page_shows_the_traffic_it_reads(
    app: AppTest, trained_embedded: Trained
) -> None:
    settings = trained_embedded.settings
    buffer = io.BytesIO(_drifted(1200, seed=41).to_csv(index=False).encode())
    buffer.name = "monitored.csv"
    score_file(
        buffer,
        settings=settings,
        choice=resolve_model(settings),
        source_kind="cli",
        actor=analyst("m"),
    )
    at = _open(app, "monitoring.py")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    headings = [h.value for h in at.subheader]
    assert headings[:2] == ["Volume", "Alert rate"], headings
    assert "Traffic by version" in headings and "Audit spool" in headings
    latency = at.dataframe[0].value
    assert "cli" in set(latency.index) and latency.loc["cli", "calls"] >= 1


def test_monitoring_an_empty_window_says_so(app: AppTest) -> None:
    at = _open(app, "monitoring.py")
    at.selectbox[0].set_value("range").run()
    at.date_input[0].set_value((date(2020, 1, 1), date(2020, 1, 7)))
    at.run()
    assert not at.exception and not at.error
    assert "No scoring in this window" in at.info[0].value
    assert [h.value for h in at.subheader] == ["Audit spool"]
