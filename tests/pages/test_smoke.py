"""Every page renders without an exception, in-process with Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.ui.pages import PAGE_SPECS
from app.ui.provenance_view import SYNTHETIC_BADGE
from core.artifacts import get_test_split
from core.config import Settings
from core.registry import get_version, load_model
from core.schema import FEATURES
from core.training import train_from_csv
from tests.conftest import LEAD, REPO, Trained, analyst, settings_env

MAIN = str(REPO / "app" / "main.py")


def _app(monkeypatch: pytest.MonkeyPatch, settings: Settings, **extra: str) -> AppTest:
    for key, value in {**settings_env(settings), **extra}.items():
        monkeypatch.setenv(key, value)
    return AppTest.from_file(MAIN, default_timeout=120)


@pytest.mark.parametrize("page", [name for name, *_ in PAGE_SPECS])
def test_every_page_renders(
    page: str, trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(workbench_env, trained_embedded.settings).run()
    at.switch_page(str(REPO / "pages" / page)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_home_shows_backends_and_the_live_model(
    trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(workbench_env, trained_embedded.settings).run()
    settings, result = trained_embedded.settings, trained_embedded.result
    text = " ".join(m.value for m in at.markdown)
    assert f"**{settings.model_name}** @ **champion** → version **{result.version}**" in text
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["AUPRC"] == f"{result.metrics.auprc:.3f}"
    # trained at sampling fraction 1: no second row of equal numbers, a caption says why
    assert "AUPRC (weighted)" not in metrics
    assert any("Sampling fraction 1" in c.value for c in at.caption)
    backends = at.dataframe[0].value
    assert backends["Status"].tolist() == ["reachable"] * 3
    # trained from a file, not the demo: no synthetic-data badge; its data beside the metrics
    assert not [m.value for m in at.markdown if SYNTHETIC_BADGE in m.value]
    assert "Data: **tiny.csv**, 20,000 rows, 200 frauds (1.00% fraud)" in text
    # the rates with the counts behind them, counted here with numpy on the same split
    info = get_version(settings, result.version)
    split = get_test_split(settings, info.run_id)
    proba = load_model(settings, info).predict_proba(split.loc[:, list(FEATURES)].to_numpy())
    fraud, alert = split["Class"].to_numpy() == 1, proba >= info.require_threshold()
    caught, alerts = int((fraud & alert).sum()), int(alert.sum())
    assert f"({caught:,} of {int(fraud.sum()):,} frauds)" in text
    assert f"({caught:,} of {alerts:,} alerts)" in text
    versions = at.dataframe[-1].value
    assert versions[["Data", "Origin", "Test rows"]].to_numpy().tolist() == [
        ["tiny.csv", "real", "4,000"]
    ]
    # the confusion matrix and the PR curve in Vega-Lite: the first page loads no Plotly
    assert len(at.get("vega_lite_chart")) == 2
    assert not at.get("plotly_chart")


def test_home_without_a_model_trains_the_demo_on_click(
    tmp_path: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(workbench_env, Settings(home=tmp_path), WORKBENCH_DEMO_ROWS="20000").run()
    assert "No version of **fraud-detector**" in at.info[0].value
    at.button[0].click().run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "**fraud-detector** @ **champion** → version **1**" in text
    # the demo is synthetic: badged beside its metrics and in the versions table's notes
    badges = [m.value for m in at.markdown if SYNTHETIC_BADGE in m.value]
    assert badges[0] == f":orange-badge[:material/science: {SYNTHETIC_BADGE}]", badges
    assert any(
        "not comparable with a version tested on a real sample" in c.value for c in at.caption
    )
    assert at.dataframe[-1].value["Origin"].tolist() == ["synthetic"]


def test_home_names_an_unreachable_backend(
    tmp_path: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    down = Settings(home=tmp_path, database_url="postgresql://app:pw@127.0.0.1:9/wb")
    at = _app(workbench_env, down).run()
    assert not at.exception
    assert any("**App database** is not reachable" in e.value for e in at.error)
    assert all("pw@" not in e.value for e in at.error)


def test_home_shows_and_replays_the_audit_spool(
    trained_embedded: Trained, tmp_path: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import pyarrow as pa

    from core.audit import ScoringEventRecord, log_scoring, make_predictions_table, pending_spool
    from core.schema import FEATURES
    from core.scoring import resolve_model, score_record
    from tests.conftest import free_port

    live = trained_embedded.settings
    home = tmp_path / "home"
    blocker = tmp_path / "db"
    database_url = f"sqlite:///{blocker / 'workbench.db'}"
    same = {"home": home, "tracking_uri": live.tracking_uri, "model_name": live.model_name}
    back = Settings(**same, database_url=database_url)

    def one_row() -> pa.Table:
        return make_predictions_table(
            row_number=None,
            transaction_id=None,
            features=np.zeros((1, 30)),
            probability=np.zeros(1),
            decision=np.zeros(1),
        )

    refused = ScoringEventRecord("ui", "t", "m", 1, None, 0.5, 1, 1, 0, 0)
    bad = one_row().set_column(2, "input_hash", pa.nulls(1, pa.string()))
    assert log_scoring(back, refused, bad).stored == "set_aside"
    from core.db.engine import dispose_engines

    dispose_engines()  # no pooled connection keeps the moved file open
    blocker.rename(tmp_path / "db-away")
    blocker.write_text("a file where the database folder should be: unreachable")
    score_record(
        dict.fromkeys(FEATURES, 0.2),
        settings=back,
        choice=resolve_model(live),
        source_kind="ui",
        actor=analyst("t"),
    )
    elsewhere = Settings(**same, database_url=f"postgresql://x@127.0.0.1:{free_port()}/gone")
    event = ScoringEventRecord("ui", "t", "m", 1, None, 0.5, 1, 1, 0, 0)
    log_scoring(elsewhere, event, one_row())
    blocker.unlink()
    (tmp_path / "db-away").rename(blocker)
    dispose_engines()  # the page reaches the database afresh

    at = _app(workbench_env, back).run()
    assert not at.exception
    assert "1 scoring event waits in the local audit spool" in at.warning[0].value
    assert "1 audit record was refused by the app database" in at.error[0].value
    reasons = at.dataframe[1].value
    assert reasons["Event"].tolist() == [refused.event_uid]
    assert "NOT NULL constraint failed" in reasons["Reason"].iloc[0]
    assert "1 spooled audit record belongs to another app database" in at.info[0].value
    adopt = "workbench audit adopt --from-database postgresql://127.0.0.1:"
    assert adopt in at.info[0].value and at.info[0].value.endswith("/gone")
    at.button[0].click().run()
    assert at.success[0].value == "Replayed 1 event."
    assert pending_spool(back) == 1  # the other database's record stays
    retry = [b for b in at.button if b.label == "Retry the set-aside records"]
    retry[0].click().run()
    assert at.success[0].value == "Wrote 0 events."  # refused again, still shown
    assert "NOT NULL constraint failed" in at.dataframe[1].value["Reason"].iloc[0]


def test_home_shows_the_weighted_metrics_of_a_sampled_version(
    tmp_path: Path, tiny_csv: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path)
    train_from_csv(tiny_csv, settings=settings, actor=LEAD, sampling_fraction=0.5)
    stored = get_version(settings, 1).metrics
    assert stored["weighted_auprc"] < stored["auprc"] - 1e-3  # the two differ: which is shown
    at = _app(workbench_env, settings).run()
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["AUPRC"] == f"{stored['auprc']:.3f}"
    assert metrics["AUPRC (weighted)"] == f"{stored['weighted_auprc']:.3f}"
    brier = metrics["Brier (weighted)"]  # three significant digits, as the command line
    assert float(brier) == pytest.approx(stored["weighted_brier"], rel=5e-3)
    assert len(brier.replace(".", "").lstrip("0")) == 3, brier
    assert any("sampled at 0.5, each counted 2.0 times" in c.value for c in at.caption)
    versions = at.dataframe[-1].value
    assert versions["AUPRC (weighted)"].tolist() == [pytest.approx(stored["weighted_auprc"])]
    assert versions["Sampling fraction"].tolist() == [0.5]
