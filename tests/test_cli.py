"""The `workbench` command line, in-process (typer's runner) and once as the real script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from core.config import Settings, get_settings
from core.registry import get_version
from core.schema import FEATURES
from tests.conftest import Trained, analyst, settings_env

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


def test_train_prints_a_small_calibrated_threshold_to_four_significant_digits(
    home: Settings, tiny_csv: Path
) -> None:
    """At F = 0.001 the prior-corrected threshold is a natural-prevalence rate, far below
    0.01: the printed one must still read back as the tagged one to 4 digits."""
    result = _invoke(home, "train", "--data", str(tiny_csv), "--sampling-fraction", "0.001")
    assert result.exit_code == 0, result.output
    tagged = float(get_version(home, 1).tags["threshold"])
    assert tagged < 0.01  # what this test is about
    printed = float(re.search(r"at threshold ([0-9.]+):", result.stdout).group(1))
    assert printed == pytest.approx(tagged, rel=5e-4)


def test_train_on_a_bad_file_exits_2_with_a_message(home: Settings, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    result = _invoke(home, "train", "--data", str(bad))
    assert result.exit_code == 2
    assert "missing required columns: Time, V1" in result.stderr


def test_logreg_baseline_and_unknown_model(home: Settings, tiny_csv: Path) -> None:
    options = ["--time-feature", "hour_of_day", "--calibration", "none", "--json"]
    result = _invoke(home, "train", "--data", str(tiny_csv), "--model", "logreg", *options)
    assert result.exit_code == 0, result.stderr
    tags = get_version(home, json.loads(result.stdout)["version"]).tags
    assert (tags["time_feature"], tags["probability_scale"]) == ("hour_of_day", "raw")
    listed = json.loads(_invoke(home, "versions", "--json").stdout)
    mine = next(v for v in listed if v["version"] == json.loads(result.stdout)["version"])
    assert (mine["time_feature"], mine["probability_scale"]) == ("hour_of_day", "raw")
    wrong = _invoke(home, "train", "--data", str(tiny_csv), "--model", "xgboost")
    assert wrong.exit_code == 2 and "unknown model kind 'xgboost'" in wrong.stderr
    wrong = _invoke(home, "train", "--data", str(tiny_csv), "--calibration", "beta")
    assert wrong.exit_code == 2 and "unknown calibration 'beta'" in wrong.stderr
    wrong = _invoke(home, "train", "--data", str(tiny_csv), "--time-feature", "weekday")
    assert wrong.exit_code == 2 and "weekday" in wrong.stderr


@pytest.mark.parametrize("database", ["sqlite-unopenable", "postgresql-refused"])
def test_train_with_the_app_database_down_says_the_version_was_registered(
    home: Settings, tiny_csv: Path, tmp_path: Path, database: str
) -> None:
    """Registering needs the registry only; the alias move needs its history row too."""
    from core.registry import list_versions
    from tests.conftest import free_port

    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file: nothing can be opened under it\n")
    url = (
        f"sqlite:///{blocker}/workbench.db"
        if database.startswith("sqlite")
        else f"postgresql://wb@127.0.0.1:{free_port()}/app"
    )
    down = home.model_copy(update={"database_url": url})
    result = _invoke(down, "train", "--data", str(tiny_csv))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output, result.output
    # (MLflow prints "Created version '1' of model ..." on its own)
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    expected = "error: registered fraud-detector version 1; the alias @champion was not set: "
    assert error.startswith(expected) and len(error) < 300, error
    assert "app database" in error and "train again" in error, error
    [registered] = list_versions(home)  # the registry agrees: kept, and not aliased
    assert (registered.version, registered.aliases) == (1, ())


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
    assert re.search(r"FAIL +App database", result.stdout) and "secret" not in result.stdout


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
    (tmp_path / "out").mkdir()
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
    written = pd.read_csv(out)
    assert len(written) == 299
    assert summary["alerts"] == int(written["decision"].sum()) and summary["seconds"] > 0
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
    a_folder = _invoke(settings, "score", "--data", str(tiny_csv), "--out", str(folder))
    assert a_folder.exit_code == 2 and f"cannot write {folder}: it is a folder" in a_folder.stderr
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
    assert "replayed 0 spooled events; 0 waiting, 0 set aside, 0 for another database" in (
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
    assert "0 records waiting, 1 set aside, 1 waiting for another database" in text.stdout
    assert "NOT NULL constraint failed" in text.stdout

    again = _invoke(settings, "audit", "retry-failed")
    assert again.exit_code == 0, again.output
    assert "replayed 0 spooled events; 0 waiting, 1 set aside, 1 for another" in again.stdout
    assert "NOT NULL constraint failed" in again.stderr

    down = _invoke(elsewhere, "audit", "replay")
    assert down.exit_code == 1
    assert down.stderr.startswith("error: audit database still unreachable")
    assert "Traceback" not in down.output and "secret" not in down.output


def test_score_reads_the_model_version_once(
    trained_embedded: Trained, tiny_frame: pd.DataFrame, tmp_path: Path, monkeypatch
) -> None:
    """A spy on MLflow's client (not on our code): one registry read of the version."""
    from mlflow.tracking import MlflowClient

    settings = trained_embedded.settings
    data = tmp_path / "in.csv"
    tiny_frame.head(50).to_csv(data, index=False)
    calls: list[str] = []
    for name in ("get_model_version", "get_model_version_by_alias"):
        real = getattr(MlflowClient, name)

        def spy(self, *args, _real=real, _name=name, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(_name)
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(MlflowClient, name, spy)
    for choice, expected in ((["--version", "1"], "get_model_version"), ([], "by_alias")):
        calls.clear()
        out = tmp_path / f"out{len(choice)}.csv"
        result = _invoke(settings, "score", "--data", str(data), "--out", str(out), *choice)
        assert result.exit_code == 0, result.output
        assert len(calls) == 1 and calls[0].endswith(expected), calls


def test_audit_adopt_lists_first_and_writes_only_with_yes(tmp_path: Path) -> None:
    import numpy as np

    from core.audit import (
        ScoringEventRecord,
        count_predictions,
        make_predictions_table,
        pending_spool,
    )
    from tests.conftest import write_old_spool_file

    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'wb.db'}")
    event = ScoringEventRecord("cli", "t", "m", 1, None, 0.5, 3, 3, 0, 0)
    table = make_predictions_table(
        row_number=np.arange(1, 4),
        transaction_id=None,
        features=np.zeros((3, 30)),
        probability=np.zeros(3),
        decision=np.zeros(3),
    )
    old = write_old_spool_file(settings, event, table)

    status = _invoke(settings, "audit", "status")
    assert "1 waiting for another database" in status.stdout
    assert "workbench audit adopt --untagged" in status.stdout

    bare = _invoke(settings, "audit", "adopt")
    assert bare.exit_code == 2 and bare.stderr.count("\n") == 1
    assert bare.stderr.startswith("error: name the records to adopt")

    listed = _invoke(settings, "audit", "adopt", "--untagged")
    assert listed.exit_code == 0, listed.output
    assert old.name in listed.stdout and "nothing was written: add --yes" in listed.stdout
    assert count_predictions(settings, event.event_uid) == 0 and pending_spool(settings) == 1

    down = settings.model_copy(update={"database_url": f"sqlite:///{old}/not-a-folder/wb.db"})
    refused = _invoke(down, "audit", "adopt", "--untagged", "--yes")
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1, refused.output
    assert "no record was adopted" in refused.stderr and "Traceback" not in refused.output
    assert pending_spool(settings) == 1

    done = _invoke(settings, "audit", "adopt", "--untagged", "--yes")
    assert done.exit_code == 0, done.output
    assert "adopted 1 record into the app database" in done.stdout and "1 stored" in done.stdout
    assert count_predictions(settings, event.event_uid) == 3 and pending_spool(settings) == 0
    nothing = _invoke(settings, "audit", "adopt", "--untagged", "--yes")
    assert nothing.exit_code == 0 and "no spooled record matches" in nothing.stdout


# --------------------------------------------------------------------------- safe output files


@pytest.fixture
def small_csv(tiny_frame: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    tiny_frame.head(200).to_csv(path, index=False)
    return path


def _refused(settings: Settings, data: Path, out: Path | str, why: str) -> None:
    before = data.read_bytes()
    result = _invoke(settings, "score", "--data", str(data), "--out", str(out))
    assert result.exit_code == 2, result.output
    assert why in result.stderr and "Traceback" not in result.output
    assert data.read_bytes() == before  # the input is untouched


def test_score_refuses_an_out_that_is_the_input(
    trained_embedded: Trained, small_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = trained_embedded.settings
    _refused(settings, small_csv, small_csv, "is the input file")
    link = tmp_path / "link.csv"
    link.symlink_to(small_csv)
    _refused(settings, small_csv, link, "is the input file")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    _refused(settings, small_csv, "../in.csv", "is the input file")
    hard = tmp_path / "hard.csv"
    hard.hardlink_to(small_csv)
    _refused(settings, small_csv, hard, "is the input file")


def test_score_refuses_an_out_that_would_overwrite_a_rejected_file_pair(
    trained_embedded: Trained, small_csv: Path, tmp_path: Path
) -> None:
    settings = trained_embedded.settings
    _refused(settings, small_csv, tmp_path / "in.rejected.csv", "is the input's rejected-rows")
    named_like_rejects = tmp_path / "x.rejected.csv"
    named_like_rejects.write_bytes(small_csv.read_bytes())
    _refused(settings, named_like_rejects, tmp_path / "x.csv", "rejected rows over the input")
    assert not (tmp_path / "x.csv").exists()


def test_score_out_in_a_missing_folder_is_bad_input_and_not_created(
    trained_embedded: Trained, small_csv: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "no" / "such"
    result = _invoke(
        trained_embedded.settings, "score", "--data", str(small_csv), "--out", str(folder / "o.csv")
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: cannot write {folder / 'o.csv'}: the folder {folder} does not exist"
    )
    assert not (tmp_path / "no").exists()


def test_a_failed_run_keeps_the_previous_out_and_leaves_no_partial_file(
    trained_embedded: Trained, tiny_frame: pd.DataFrame, tmp_path: Path
) -> None:
    from core.errors import InputError
    from core.output import rejected_path
    from core.scoring import resolve_model, score_file

    settings = trained_embedded.settings
    data = tmp_path / "late-error.csv"
    tiny_frame.head(2000).to_csv(data, index=False)
    with data.open("ab") as handle:  # bytes that are not UTF-8, far past the first chunks
        handle.write(b"1,\xff\xfe" + b",1" * 29 + b",0\n")
    out = tmp_path / "scored.csv"
    out.write_text("previous good result\n")
    rejected_path(out).write_text("previous rejects\n")
    with pytest.raises(InputError, match="not UTF-8 text after data row"):
        score_file(
            data,
            settings=settings,
            choice=resolve_model(settings),
            source_kind="cli",
            actor=analyst("t"),
            out=out,
            chunk_rows=128,
        )
    assert out.read_text() == "previous good result\n"
    assert rejected_path(out).read_text() == "previous rejects\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "late-error.csv",
        "scored.csv",
        "scored.rejected.csv",
    ]


def test_a_complete_run_replaces_out_and_drops_a_stale_rejected_file(
    trained_embedded: Trained, small_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "o.csv"
    out.write_text("old\n")
    (tmp_path / "o.rejected.csv").write_text("old rejects\n")
    result = _invoke(
        trained_embedded.settings, "score", "--data", str(small_csv), "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(out)) == 200
    assert not (tmp_path / "o.rejected.csv").exists()  # this run rejected nothing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "o.csv"]


def test_generate_out_in_a_missing_folder_is_bad_input(home: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "absent"
    result = _invoke(home, "generate", "--out", str(folder / "g.csv"), "--rows", "10")
    assert result.exit_code == 2
    assert f"the folder {folder} does not exist" in result.stderr
    assert not folder.exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    under_a_file = _invoke(home, "generate", "--out", str(blocker / "g.csv"), "--rows", "10")
    assert under_a_file.exit_code == 2
    assert f"the folder {blocker} is not a folder" in under_a_file.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rows", "0"], "rows must be at least 1 and at most 20,000,000"),
        (["--rows", "999999999999"], "rows must be at least 1 and at most 20,000,000"),
        (["--fraud-rate", "1.5"], "fraud_rate must be in [0, 1), got 1.5"),
        (["--fraud-rate", "nan"], "fraud_rate must be in [0, 1), got nan"),
        (["--seed", "-1"], "seed must be 0 or more, got -1"),
        (["--start-time", "inf"], "start_time must be a finite number"),
        (["--drift", "V14=nan"], "drift V14=nan: expected a finite number"),
        (["--drift", "Time=1"], "cannot drift Time"),
    ],
)
def test_generate_refuses_bad_values_with_one_line(
    home: Settings, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "g.csv"
    result = _invoke(home, "generate", "--out", str(out), *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert not out.exists()


# --------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["score", "--data", "x.csv"],  # --out missing
        ["generate", "--out", "g.csv", "--rows", "many"],
        ["status", "--no-such-option"],
        ["audit", "no-such-subcommand"],
    ],
)
def test_usage_errors_exit_2(home: Settings, args: list[str]) -> None:
    result = _invoke(home, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


USAGE_ERRORS = [
    (["status", "--no-such-option"], "No such option: --no-such-option", "workbench status"),
    (["score", "--data", "x.csv"], "Missing option '--out'", "workbench score"),
    (
        ["generate", "--out", "g.csv", "--rows", "many"],
        "Invalid value for '--rows'",
        "workbench generate",
    ),
    (["no-such-command"], "No such command 'no-such-command'", "workbench"),
    (["audit", "no-such-subcommand"], "No such command 'no-such-subcommand'", "workbench audit"),
]


def _one_plain_usage_line(stdout: str, stderr: str, code: int, message: str, path: str) -> None:
    shown = f"exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    assert code == 2, shown
    assert stdout == "", shown
    assert stderr.count("\n") == 1 and stderr.startswith("error: "), shown
    assert message in stderr and f"Try '{path} --help' for help." in stderr, shown
    assert not set(stderr) & set("╭╮╰╯│─"), shown  # no rich box


@pytest.mark.parametrize(("args", "message", "path"), USAGE_ERRORS)
def test_a_usage_error_is_one_plain_line(
    home: Settings, args: list[str], message: str, path: str
) -> None:
    result = _invoke(home, *args)
    _one_plain_usage_line(result.stdout, result.stderr, result.exit_code, message, path)


def test_a_usage_error_is_one_plain_line_in_a_real_process(tmp_path: Path) -> None:
    script = Path(__file__).parents[1] / ".venv" / "bin" / "workbench"
    done = subprocess.run(
        [str(script), "status", "--no-such-option"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "80"},
    )
    _args, message, path = USAGE_ERRORS[0]
    _one_plain_usage_line(done.stdout, done.stderr, done.returncode, message, path)


def test_the_exit_code_table() -> None:
    from cli.common import (
        EXIT_BACKEND,
        EXIT_DRIFT,
        EXIT_INPUT,
        EXIT_OK,
        EXIT_REFUSED,
        exit_code,
    )
    from core.errors import (
        BackendError,
        ConfigError,
        InputError,
        NotFoundError,
        OutputError,
        RefusedError,
        WorkbenchError,
    )

    assert (EXIT_OK, EXIT_BACKEND, EXIT_INPUT, EXIT_REFUSED, EXIT_DRIFT) == (0, 1, 2, 3, 4)
    codes = {
        cls.__name__: exit_code(cls("x"))
        for cls in (
            BackendError,
            OutputError,
            WorkbenchError,
            InputError,
            ConfigError,
            NotFoundError,
            RefusedError,
        )
    }
    assert codes == {
        "BackendError": 1,
        "OutputError": 1,
        "WorkbenchError": 1,
        "InputError": 2,
        "ConfigError": 2,
        "NotFoundError": 2,
        "RefusedError": 3,
    }


def test_readme_documents_the_one_exit_code_table() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert [line.split("|")[1].strip() for line in rows] == ["`0`", "`1`", "`2`", "`3`", "`4`"]
    assert readme.count("Exit codes:") == 0  # the old one-line summary is gone


def test_a_bad_setting_exits_2_with_one_line(home: Settings) -> None:
    bad = {**settings_env(home), "WORKBENCH_DATABASE_URL": "mongodb://db/x"}
    get_settings.cache_clear()
    result = runner.invoke(app, ["versions"], env=bad)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "valid schemes are" in result.stderr


# --------------------------------------------------------------------------- last line of defence


def test_an_unexpected_exception_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cli.main import run_guarded

    def broken() -> None:
        raise RuntimeError("something nobody planned for\nsecond line")

    with pytest.raises(SystemExit) as caught:
        run_guarded(broken)
    assert caught.value.code == 1
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr.startswith("error: unexpected failure (something nobody planned for)")
    log_file = Path(stderr.rsplit("details in ", 1)[1].strip())
    try:
        assert "Traceback" in log_file.read_text() and "second line" in log_file.read_text()
    finally:
        log_file.unlink()


# --------------------------------------------------------------------------- where data lives


def test_an_old_home_in_the_current_folder_is_pointed_out(
    home: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "project" / ".workbench"
    old.mkdir(parents=True)
    monkeypatch.chdir(old.parent)
    result = _invoke(home, "versions")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (
        f"warning: an old workbench home exists at {old} but the home in use is {home.home}; "
        f"to keep using the old one: export WORKBENCH_HOME={old}"
    )
    in_use = _invoke(Settings(home=old), "versions")
    assert in_use.stderr == ""


def test_a_command_that_finds_no_model_says_where_it_looked(
    home: Settings, small_csv: Path, tmp_path: Path
) -> None:
    result = _invoke(home, "score", "--data", str(small_csv), "--out", str(tmp_path / "o.csv"))
    assert result.exit_code == 2
    assert f"looked in the tracking store sqlite:///{home.home}/mlflow.db" in result.stderr


def test_an_out_that_is_a_folder_is_refused_before_scoring_and_touches_nothing(
    trained_embedded: Trained, small_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = trained_embedded.settings
    (tmp_path / "o.csv").mkdir()
    (tmp_path / "o.rejected.csv").write_text("old\n")
    _refused(settings, small_csv, tmp_path / "o.csv", "it is a folder")
    assert (tmp_path / "o.rejected.csv").read_text() == "old\n"
    monkeypatch.chdir(tmp_path)
    _refused(settings, small_csv, "./", "name a file, not a folder")


def test_no_scored_file_is_delivered_when_its_audit_record_cannot_be_kept(
    trained_embedded: Trained, small_csv: Path, tmp_path: Path
) -> None:
    """Database refused and the spool not writable: exit 1, one line, and no OUT."""
    from tests.conftest import free_port

    home = tmp_path / "home"
    home.mkdir()
    (home / "spool").write_text("a file where the spool folder should be")
    settings = trained_embedded.settings.model_copy(
        update={
            "home": home,
            "database_url": f"postgresql+psycopg2://nobody@127.0.0.1:{free_port()}/gone",
        }
    )
    out = tmp_path / "scored.csv"
    result = _invoke(settings, "score", "--data", str(small_csv), "--out", str(out))
    assert result.exit_code == 1, result.output
    [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "the local spool" in line and "nothing was delivered" in line
    assert "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.glob("*.csv")) == [small_csv]


def test_status_names_the_live_model_while_another_backend_is_down(
    trained_embedded: Trained,
) -> None:
    from tests.conftest import free_port

    settings = trained_embedded.settings
    down = settings.model_copy(
        update={"database_url": f"postgresql+psycopg2://nobody@127.0.0.1:{free_port()}/gone"}
    )
    result = _invoke(down, "status")
    assert result.exit_code == 1 and re.search(r"FAIL +App database", result.stdout)
    assert f"live model: {settings.model_name}@champion -> version 1 (" in result.stdout


def test_score_warns_about_rows_scored_despite_a_bad_label(
    trained_embedded: Trained, tiny_frame: pd.DataFrame, tmp_path: Path
) -> None:
    frame = tiny_frame.head(20).astype(object)
    frame.loc[4, "Class"] = "yes"  # data row 5
    data = tmp_path / "labels.csv"
    frame.to_csv(data, index=False)
    result = _invoke(
        trained_embedded.settings, "score", "--data", str(data), "--out", str(tmp_path / "o.csv")
    )
    assert result.exit_code == 0, result.output
    assert (
        "warning: Class: 1 row(s) with a bad or empty label were scored and their label "
        "ignored (row 5: 'yes' is not a number)"
    ) in result.stderr
    assert "20 rows: 20 scored, 0 rejected" in result.stdout


REGISTRY_PRINTS = ("Successfully registered model", "Created version", "already exists")


def test_human_outputs_show_the_weighted_auprc_beside_the_raw_one(
    home: Settings, tiny_csv: Path
) -> None:
    """train, versions and status: weighted at F < 1; "= raw" at F = 1 (nothing to weigh)."""
    from core.registry import list_versions

    sampled = _invoke(home, "train", "--data", str(tiny_csv), "--sampling-fraction", "0.5")
    assert sampled.exit_code == 0, sampled.output
    # MLflow's registry prints its own "registered" lines; the command says it once, itself
    assert not [p for p in REGISTRY_PRINTS if p in sampled.stderr], sampled.stderr
    full = _invoke(home, "train", "--data", str(tiny_csv))
    assert full.exit_code == 0 and not [p for p in REGISTRY_PRINTS if p in full.stderr]

    stored = {v.version: v.metrics for v in list_versions(home)}
    raw, weighted = stored[1]["auprc"], stored[1]["weighted_auprc"]
    # legitimate rows counted twice: precision, hence AUPRC, must drop
    assert weighted < raw - 1e-3
    assert f"weighted (sampling fraction 0.5): AUPRC {weighted:.4f}" in sampled.stdout
    assert "sampling fraction 1: weighted metrics = raw" in full.stdout

    # the metrics table: one row per version, newest first, AUPRC then its weighted twin
    rows = [line.split() for line in _invoke(home, "versions").stdout.splitlines()]
    metric_rows = [r for r in rows if r[:2] in (["2", "lightgbm"], ["1", "lightgbm"])]
    assert [r[2:4] for r in metric_rows] == [
        [f"{stored[2]['auprc']:.4f}", "="],  # "= raw": at F = 1 there is nothing to weigh
        [f"{raw:.4f}", f"{weighted:.4f}"],
    ]
    status = _invoke(home, "status").stdout  # the live alias is on version 1 (the first)
    [auprc_row] = [line.split() for line in status.splitlines() if line.split()[:1] == ["AUPRC"]]
    assert auprc_row == ["AUPRC", f"{raw:.4f}", f"{weighted:.4f}"]
    # Brier to three significant digits (as Home shows it), not to five decimals
    [brier_row] = [line.split() for line in status.splitlines() if line.split()[:1] == ["Brier"]]
    weighted_brier = (stored[1]["brier"], stored[1]["weighted_brier"])
    for text, value in zip(brier_row[1:], weighted_brier, strict=True):
        assert float(text) == pytest.approx(value, rel=5e-3)
        assert len(text.replace(".", "").lstrip("0")) == 3, brier_row
    listed = json.loads(_invoke(home, "versions", "--json").stdout)
    assert [v["sampling_fraction"] for v in listed] == [1.0, 0.5]


def test_bootstrap_prints_one_plain_line_per_step_when_not_on_a_terminal(
    home: Settings,
) -> None:
    """`make run` in a log or a pipe: no bar is drawn, so plain lines say what is going on."""
    result = runner.invoke(
        app, ["bootstrap", "--rows", "20000"], env=settings_env(home), catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    steps = result.stderr.splitlines()
    assert len(steps) >= 5, result.stderr
    assert all(re.fullmatch(r"\[ *\d+ s\] +\d+% \S.*", line) for line in steps), steps
    assert any("Generating 20,000 synthetic transactions" in line for line in steps)
    assert steps[-1].endswith("100% Registered fraud-detector version 1")
    assert not [p for p in REGISTRY_PRINTS if p in result.stderr]
    assert "demo model fraud-detector version 1 trained" in result.stdout
