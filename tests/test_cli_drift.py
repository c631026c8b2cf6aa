"""``workbench drift``: exit codes, the JSON shape, the HTML report and windows of traffic,
on a real model trained here (its own home: no other test's scoring events in its window)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.artifacts import artifact_exists
from core.config import Settings, get_settings
from core.data import generate_transactions
from core.registry import get_version
from tests.conftest import LEAD, Trained, settings_env

runner = CliRunner()
SHIFTED = {"V14": 1.5, "V4": 1.5}


@pytest.fixture(scope="module")
def model(tiny_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    from core.training import train_from_csv

    home = tmp_path_factory.mktemp("drift-home")
    settings = Settings(home=home, model_name=f"drift-{uuid.uuid4().hex[:8]}")
    return Trained(settings, train_from_csv(tiny_csv, settings=settings, actor=LEAD))


@pytest.fixture(scope="module")
def csvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Drawn like the training data (another seed), and with V14 and V4 shifted."""
    folder = tmp_path_factory.mktemp("drift-data")
    paths = {"same": folder / "same.csv", "shifted": folder / "shifted.csv"}
    generate_transactions(5000, fraud_rate=0.01, seed=11).to_csv(paths["same"], index=False)
    generate_transactions(5000, fraud_rate=0.01, seed=11, drift=SHIFTED).to_csv(
        paths["shifted"], index=False
    )
    return paths


def _invoke(settings: Settings, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    get_settings.cache_clear()
    try:
        return runner.invoke(app, list(args), env={**settings_env(settings), **(env or {})})
    finally:
        get_settings.cache_clear()


def test_data_drawn_like_the_reference_exits_0(model: Trained, csvs: dict[str, Path]) -> None:
    result = _invoke(model.settings, "drift", "--current", str(csvs["same"]), "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["drift_found"] is False
    [report] = payload["reports"]
    assert (report["verdict"], report["flagged"], report["rows"]) == ("no drift", [], 5000)
    assert "Time" not in [f["name"] for f in report["features"]]

    human = _invoke(model.settings, "drift", "--current", str(csvs["same"]))
    assert human.exit_code == 0, human.output
    assert human.stdout.startswith("No drift: none of 29 judged features reaches PSI 0.25")
    assert "queue: " in human.stdout and "alerts per day" in human.stdout


def test_two_shifted_features_exit_4_and_are_the_ones_flagged(
    model: Trained, csvs: dict[str, Path]
) -> None:
    result = _invoke(model.settings, "drift", "--current", str(csvs["shifted"]), "--json")
    assert result.exit_code == 4, result.output
    payload = json.loads(result.stdout)
    assert payload["drift_found"] is True
    [report] = payload["reports"]
    assert sorted(report["flagged"]) == ["V14", "V4"]
    assert [f["band"] for f in report["features"][:2]] == ["alert", "alert"]

    human = _invoke(model.settings, "drift", "--current", str(csvs["shifted"]))
    assert human.exit_code == 4
    first, *rest = human.stdout.splitlines()
    assert first.startswith("Drift found: 2 of 29 judged features reach PSI 0.25")
    table = [line.split() for line in rest if line.startswith("  V")]
    assert [row[0] for row in table[:2]] in (["V14", "V4"], ["V4", "V14"])  # flagged first
    assert {row[1] for row in table[2:]} <= {"ok", "warn"}


def test_time_is_judged_only_with_include_time(model: Trained, csvs: dict[str, Path]) -> None:
    result = _invoke(
        model.settings, "drift", "--current", str(csvs["same"]), "--include-time", "--json"
    )
    [report] = json.loads(result.stdout)["reports"]
    assert "Time" in [f["name"] for f in report["features"]]


def test_too_few_rows_is_not_judged_and_exits_0(model: Trained, tmp_path: Path) -> None:
    path = tmp_path / "few.csv"
    generate_transactions(300, seed=5, drift=SHIFTED).to_csv(path, index=False)
    result = _invoke(model.settings, "drift", "--current", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Not judged: 300 rows: under the minimum of 1,000")
    lowered = _invoke(
        model.settings, "drift", "--current", str(path), env={"WORKBENCH_DRIFT_MIN_ROWS": "200"}
    )
    assert lowered.exit_code == 4, lowered.output  # the setting is read


def test_a_bad_csv_exits_2_naming_the_row(model: Trained, tmp_path: Path) -> None:
    frame = generate_transactions(20, seed=1).astype({"V4": object})
    frame["V4"] = "abc"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    result = _invoke(model.settings, "drift", "--current", str(path))
    assert result.exit_code == 2, result.output
    [error] = result.stderr.splitlines()
    assert error.startswith("error: ") and "row 1: V4: 'abc' is not a number" in error


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("--current", "x.csv", "--window", "7d"),
        ("--window", "7d", "--version", "1", "--alias", "a"),
    ],
)
def test_usage_errors_exit_2(model: Trained, args: tuple[str, ...]) -> None:
    result = _invoke(model.settings, "drift", *args)
    assert result.exit_code == 2 and result.stderr.startswith("error: give "), result.output


def test_a_bad_window_exits_2(model: Trained) -> None:
    result = _invoke(model.settings, "drift", "--window", "7 days")
    assert result.exit_code == 2 and "expected a number and a unit" in result.stderr


def test_html_report_is_self_contained_names_the_flagged_and_is_stored_with_the_run(
    model: Trained, csvs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "report <1>.html"
    result = _invoke(
        model.settings, "drift", "--current", str(csvs["shifted"]), "--report", str(out)
    )
    assert result.exit_code == 4, result.output
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    verdict = re.search(r'<div class="verdict"[^>]*>(.*?)</div>', html, re.S)
    assert verdict and "Drift found" in verdict[1]
    assert "V14" in verdict[1] and "V4" in verdict[1] and "V22" not in verdict[1]
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 3  # V14, V4, the score
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no partial file left
    [stored] = re.findall(r"as (reports/drift-\d{8}T\d{6}Z\.html)", result.stderr)
    run_id = get_version(model.settings, 1, with_metrics=False).run_id
    assert artifact_exists(model.settings, run_id, stored)


def test_html_escapes_the_file_name(model: Trained, csvs: dict[str, Path], tmp_path: Path) -> None:
    source = tmp_path / "<b>same & co.csv"
    source.write_bytes(csvs["same"].read_bytes())
    out = tmp_path / "r.html"
    result = _invoke(model.settings, "drift", "--current", str(source), "--report", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "<b>same" not in html and "&lt;b&gt;same &amp; co.csv" in html


def test_an_analyst_gets_the_file_and_a_warning_that_it_is_not_stored(
    model: Trained, csvs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "r.html"
    result = _invoke(
        model.settings,
        "--actor",
        "ann",
        "drift",
        "--current",
        str(csvs["same"]),
        "--report",
        str(out),
        env={"WORKBENCH_ROLES": "ann=analyst"},
    )
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert "is written, but not stored with version 1's run" in result.stderr
    assert "may not store artifacts" in result.stderr


def test_report_in_a_missing_folder_exits_2_before_any_work(
    model: Trained, csvs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "missing" / "r.html"
    result = _invoke(model.settings, "drift", "--current", str(csvs["same"]), "--report", str(out))
    assert result.exit_code == 2 and "does not exist" in result.stderr, result.output
    assert not out.parent.exists()


def test_window_with_no_events_says_so_and_exits_0(model: Trained) -> None:
    result = _invoke(model.settings, "drift", "--window", "7d")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("no scoring events with drift counts in the window 7d")
    as_json = _invoke(model.settings, "drift", "--window", "24h", "--json")
    assert as_json.exit_code == 0
    assert json.loads(as_json.stdout) == {"reports": [], "drift_found": False}
    assert "no scoring events with drift counts" in as_json.stderr


def test_window_over_scored_traffic_finds_the_shifted_features(
    model: Trained, csvs: dict[str, Path], tmp_path: Path
) -> None:
    for _ in range(2):
        scored = _invoke(
            model.settings,
            "score",
            "--data",
            str(csvs["shifted"]),
            "--out",
            str(tmp_path / f"{uuid.uuid4().hex}.csv"),
        )
        assert scored.exit_code == 0, scored.output
    result = _invoke(model.settings, "drift", "--window", "1h", "--version", "1", "--json")
    assert result.exit_code == 4, result.output
    [report] = json.loads(result.stdout)["reports"]
    assert sorted(report["flagged"]) == ["V14", "V4"] and report["rows"] == 10_000
    assert report["queue"]["alerts"] >= 0 and report["version"] == 1
    other = _invoke(model.settings, "drift", "--window", "1h", "--version", "2", "--json")
    assert other.exit_code == 2  # no version 2
