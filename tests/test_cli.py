"""The `workbench` command line, in-process (typer's runner) and once as the real script."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from core.cli import app
from core.config import Settings, get_settings
from tests.conftest import settings_env

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
