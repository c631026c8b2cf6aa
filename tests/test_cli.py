"""The `workbench` command line, in-process (typer's runner) and once as the real script."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from core.config import Settings, get_settings
from core.schema import FEATURES
from tests.conftest import Trained, settings_env

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    get_settings.cache_clear()
    yield Settings(home=tmp_path / "home")
    get_settings.cache_clear()


def _invoke(settings: Settings, *args: str):  # type: ignore[no-untyped-def]
    get_settings.cache_clear()
    return runner.invoke(app, list(args), env=settings_env(settings))


def test_train_json_prints_one_object_with_metrics(home: Settings, tiny_csv: Path) -> None:
    result = _invoke(home, "train", "--data", str(tiny_csv), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["version"] == 1 and payload["model_name"] == "fraud-detector"
    assert 0 < payload["metrics"]["auprc"] <= 1 and 0 < payload["metrics"]["threshold"] < 1

    listed = _invoke(home, "versions", "--json")
    assert [v["aliases"] for v in json.loads(listed.stdout)] == [["champion"]]
    status = _invoke(home, "status", "--json")
    assert status.exit_code == 0
    report = json.loads(status.stdout)
    assert [b["ok"] for b in report["backends"]] == [True, True, True]
    assert report["live_model"]["version"] == 1


def test_train_on_a_bad_file_exits_2_with_a_message(home: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = _invoke(home, "train", "--data", str(bad))
    assert result.exit_code == 2
    assert "missing required columns: Time, V1" in result.stderr


def test_logreg_baseline_and_unknown_model(home: Settings, tiny_csv: Path) -> None:
    assert _invoke(home, "train", "--data", str(tiny_csv), "--model", "logreg").exit_code == 0
    wrong = _invoke(home, "train", "--data", str(tiny_csv), "--model", "xgboost")
    assert wrong.exit_code == 2 and "unknown model kind 'xgboost'" in wrong.stderr


def test_generate_writes_a_loadable_file_with_drift(home: Settings, tmp_path: Path) -> None:
    out = tmp_path / "gen.csv"
    result = _invoke(home, "generate", "--out", str(out), "--rows", "3000", "--drift", "V14=2")
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 3000
    bad = _invoke(home, "generate", "--out", str(out), "--drift", "V14:2")
    assert bad.exit_code == 2 and "expected FEATURE=NUMBER" in bad.stderr


def test_status_fails_with_a_clear_message_when_a_backend_is_down(home: Settings) -> None:
    down = home.model_copy(update={"database_url": "postgresql://x:secret@127.0.0.1:9/none"})
    result = _invoke(down, "status")
    assert result.exit_code == 1
    assert "FAIL App database" in result.stdout and "secret" not in result.stdout


def test_console_script_is_installed_and_bootstraps_idempotently(tmp_path: Path) -> None:
    script = shutil.which("workbench") or str(Path(__file__).parents[1] / ".venv/bin/workbench")
    env = {
        **settings_env(Settings(home=tmp_path / "boot")),
        "WORKBENCH_DEMO_ROWS": "20000",
        "PATH": str(Path(script).parent),
    }
    first = subprocess.run(
        [script, "bootstrap"], env=env, capture_output=True, text=True, timeout=300
    )
    assert first.returncode == 0, first.stderr
    assert "demo model fraud-detector version 1 trained" in first.stdout
    second = subprocess.run(
        [script, "bootstrap"], env=env, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0 and "already set" in second.stdout


def test_score_writes_outputs_and_prints_json(
    trained_embedded: Trained, tiny_frame: pd.DataFrame, tmp_path: Path
) -> None:
    data = tmp_path / "in.csv"
    frame = tiny_frame.head(300).astype(object)
    frame.loc[5, "V9"] = "oops"
    frame.to_csv(data, index=False)
    out = tmp_path / "out" / "scored.csv"
    result = _invoke(
        trained_embedded.settings, "score", "--data", str(data), "--out", str(out), "--json"
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert {k: summary[k] for k in ("rows_in", "scored", "rejected", "model_version")} == {
        "rows_in": 300,
        "scored": 299,
        "rejected": 1,
        "model_version": 1,
    }
    assert summary["alerts"] >= 0 and summary["seconds"] > 0
    assert len(pd.read_csv(out)) == 299
    rejected = pd.read_csv(tmp_path / "out" / "scored.rejected.csv")
    assert rejected[["row", "column"]].values.tolist() == [[6, "V9"]]


def test_score_by_version_and_failures(
    trained_embedded: Trained, tiny_csv: Path, tmp_path: Path
) -> None:
    settings, out = trained_embedded.settings, tmp_path / "o.csv"
    ok = _invoke(settings, "score", "--data", str(tiny_csv), "--out", str(out), "--version", "1")
    assert ok.exit_code == 0 and "20,000 rows: 20,000 scored, 0 rejected" in ok.stdout
    # A path longer than a terminal line: the message must stay whole (one line).
    absent = tmp_path / ("not-there-" * 12 + ".csv")
    missing = _invoke(settings, "score", "--data", str(absent), "--out", str(out))
    assert missing.exit_code == 2
    assert missing.stderr.strip() == f"error: {absent}: no such file"
    folder = tmp_path / "a-folder"
    folder.mkdir()
    unwritable = _invoke(settings, "score", "--data", str(tiny_csv), "--out", str(folder))
    assert unwritable.exit_code == 1 and f"cannot write {folder}" in unwritable.stderr
    no_model = _invoke(
        settings, "score", "--data", str(tiny_csv), "--out", str(out), "--alias", "ghost"
    )
    assert no_model.exit_code == 2 and "ghost" in no_model.stderr
    all_bad = tmp_path / "bad.csv"
    pd.DataFrame({name: ["x"] for name in FEATURES}).to_csv(all_bad, index=False)
    nothing = _invoke(settings, "score", "--data", str(all_bad), "--out", str(out))
    assert nothing.exit_code == 2 and "no row could be scored" in nothing.stderr
    assert (tmp_path / "o.rejected.csv").exists()


def test_audit_replay_command(trained_embedded: Trained, tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "empty-home")
    result = _invoke(settings, "audit", "replay")
    assert result.exit_code == 0, result.output
    assert "replayed 0 spooled event(s); 0 waiting, 0 set aside, 0 for another database" in (
        result.stdout
    )


def test_audit_status_shows_waiting_set_aside_and_foreign_records(tmp_path: Path) -> None:
    import numpy as np
    import pyarrow as pa

    from core.audit import ScoringEventRecord, log_scoring, make_predictions_table
    from tests.conftest import free_port

    def record(n: int, *, refused: bool = False) -> tuple[ScoringEventRecord, pa.Table]:
        event = ScoringEventRecord("cli", "t", "m", 1, None, 0.5, n, n, 0, 0)
        table = make_predictions_table(
            row_number=np.arange(n),
            transaction_id=None,
            features=np.zeros((n, 30)),
            probability=np.zeros(n),
            decision=np.zeros(n),
        )
        if refused:  # input_hash is NOT NULL: every database refuses this record
            table = table.set_column(2, "input_hash", pa.nulls(n, pa.string()))
        return event, table

    home = tmp_path / "home"
    settings = Settings(home=home)
    elsewhere = Settings(
        home=home, database_url=f"postgresql+psycopg2://u:secret@127.0.0.1:{free_port()}/other"
    )
    foreign, _ = record(2)
    assert log_scoring(elsewhere, foreign, record(2)[1]).stored == "spool"
    refused, table = record(3, refused=True)
    assert log_scoring(settings, refused, table).stored == "set_aside"

    result = _invoke(settings, "audit", "status", "--json")
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert (status["waiting"], status["set_aside"], status["other_database"]) == (0, 1, 1)
    assert status["database_reachable"] is True
    aside = status["records"]["set_aside"][0]
    assert aside["event_uid"] == refused.event_uid and aside["rows"] == 3
    assert "NOT NULL constraint failed: predictions.input_hash" in aside["reason"]
    other = status["records"]["other_database"][0]
    assert other["event_uid"] == foreign.event_uid and "/other" in other["database"]
    assert "secret" not in result.stdout

    text = _invoke(settings, "audit", "status")
    assert "0 record(s) waiting, 1 set aside, 1 waiting for another database" in text.stdout
    assert "NOT NULL constraint failed" in text.stdout

    again = _invoke(settings, "audit", "retry-failed")
    assert again.exit_code == 0, again.output
    assert "replayed 0 spooled event(s); 0 waiting, 1 set aside, 1 for another" in again.stdout
    assert "NOT NULL constraint failed" in again.stderr

    down = _invoke(elsewhere, "audit", "replay")
    assert down.exit_code == 1
    assert down.stderr.startswith("error: audit database still unreachable")
    assert "Traceback" not in down.output and "secret" not in down.output
