"""No traceback reaches a user: every command, with each store unreachable in turn.

Every command typer knows (sub-commands included, so commands added later are covered
without editing this file) runs against settings where one store cannot be reached: the
PostgreSQL and HTTP stores at a loopback port nothing listens on, the embedded SQLite
stores and folders under a path whose parent is a regular file (which even root cannot
open: chmod would not stop root). Each run must end with one clear ``error:`` line (or,
for ``status``, its report) and exit 1, or succeed when the command does not need that
store. Most run in-process (typer's runner); a few as real ``workbench`` processes.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from cli.main import app
from core.aliases import set_alias
from core.apikeys import create_api_key
from core.config import Settings, get_settings
from core.training import train_from_csv
from tests.conftest import LEAD, REPO, free_port, settings_env

runner = CliRunner()

# Arguments that make each command do its real work; commands not named here run bare.
ARGS: dict[tuple[str, ...], list[str]] = {
    ("train",): ["--data", "{csv}"],
    ("generate",): ["--out", "{out}", "--rows", "2000"],
    ("bootstrap",): ["--rows", "2000"],
    ("score",): ["--data", "{csv}", "--out", "{out}"],
    ("drift",): ["--current", "{csv}", "--report", "{out}"],
    ("audit", "adopt"): ["--untagged", "--yes"],
    # a new alias per run ({alias}): the runs share one registry, and a promote to where
    # the alias already points would be refused as bad input
    ("promote",): ["--version", "1", "--alias", "{alias}", "--reason", "r"],
    # the live alias has a move to undo, and each rollback is one more (see `healthy`)
    ("rollback",): ["--alias", "champion", "--reason", "r"],
    ("threshold",): ["--version", "1", "--value", "0.5", "--reason", "r"],
    ("api-key", "create"): ["{alias}"],  # a new name per run
    ("api-key", "revoke"): ["{api_key}"],  # a key made for this run (see the test)
}
# Commands that cannot do anything without the tracking store (the registry).
NEED_TRACKING = {
    ("train",),
    ("bootstrap",),
    ("status",),
    ("versions",),
    ("score",),
    ("drift",),
    ("promote",),
    ("rollback",),
    ("threshold",),
}


def all_commands() -> list[tuple[str, ...]]:
    """Every leaf command, as typer builds it (``("audit", "replay")`` for a sub-command)."""

    # typer ships its own copy of click: a group is whatever has sub-commands
    def walk(group: Any, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        for name, command in sorted(group.commands.items()):
            if hasattr(command, "commands"):
                yield from walk(command, (*prefix, name))
            else:
                yield (*prefix, name)

    found = list(walk(typer.main.get_command(app), ()))
    assert {("score",), ("audit", "replay")} <= set(found)
    return found


SERVERS = {("serve-api",)}
"""Commands that start a server: with a store down it keeps running and says so on /ready
(tests/test_api_server.py), so they are not run here."""
COMMANDS = [c for c in all_commands() if c not in SERVERS]


@dataclass(frozen=True)
class Broken:
    """One store made unreachable; ``tracking`` says whether it is the registry."""

    name: str
    tracking: bool
    apply: Callable[[Settings, Path], Settings]


def _replace(settings: Settings, **changes: str) -> Settings:
    values = {
        "home": settings.home,
        "tracking_uri": settings.tracking_uri,
        "artifact_root": settings.artifact_root,
        "database_url": settings.database_url,
        "model_name": settings.model_name,
        "experiment_name": settings.experiment_name,
        **changes,
    }
    return Settings(**values)


def _new_experiment() -> str:
    """The artifact root is fixed when an experiment is made: a new one uses the broken root."""
    return f"broken-artifacts-{uuid.uuid4().hex[:8]}"


BROKEN = [
    Broken(
        "tracking-postgresql-refused",
        True,
        lambda s, _: _replace(s, tracking_uri=f"postgresql://wb@127.0.0.1:{free_port()}/mlflow"),
    ),
    Broken(
        "tracking-http-refused",
        True,
        lambda s, _: _replace(s, tracking_uri=f"http://127.0.0.1:{free_port()}"),
    ),
    Broken(
        "tracking-sqlite-unopenable",
        True,
        lambda s, blocker: _replace(s, tracking_uri=f"sqlite:///{blocker}/mlflow.db"),
    ),
    Broken(
        "database-postgresql-refused",
        False,
        lambda s, _: _replace(s, database_url=f"postgresql://wb@127.0.0.1:{free_port()}/app"),
    ),
    Broken(
        "database-sqlite-unopenable",
        False,
        lambda s, blocker: _replace(s, database_url=f"sqlite:///{blocker}/workbench.db"),
    ),
    Broken(
        "artifacts-s3-refused",
        False,
        lambda s, _: _replace(
            s,
            artifact_root="s3://nowhere/mlflow",
            s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
            experiment_name=_new_experiment(),
        ),
    ),
    Broken(
        "artifacts-folder-unopenable",
        False,
        lambda s, blocker: _replace(
            s, artifact_root=(blocker / "artifacts").as_uri(), experiment_name=_new_experiment()
        ),
    ),
    Broken(
        "home-unopenable",
        True,
        lambda s, blocker: Settings(home=blocker / "home", model_name=s.model_name),
    ),
]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory, tiny_csv: Path) -> Settings:
    """A home with a trained, aliased model of its own (the broken runs may add versions)."""
    home = tmp_path_factory.mktemp("healthy-home")
    settings = Settings(home=home, model_name=f"unreachable-{uuid.uuid4().hex[:8]}")
    train_from_csv(tiny_csv, settings=settings, actor=LEAD)
    train_from_csv(tiny_csv, settings=settings, actor=LEAD)  # version 2, for a rollback
    set_alias(
        settings, version=2, actor=LEAD, reason="a move for `rollback` to undo", kind="promote"
    )
    return settings


@pytest.fixture(scope="module")
def small_csv(tiny_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("small") / "small.csv"
    tiny_frame.head(4000).to_csv(path, index=False)
    return path


def _env(settings: Settings) -> dict[str, str]:
    return {**settings_env(settings), "WORKBENCH_EXPERIMENT_NAME": settings.experiment_name}


def _arguments(command: tuple[str, ...], csv: Path, out: Path, api_key: str = "") -> list[str]:
    extra = ARGS.get(command, [])
    alias = f"unreachable-{uuid.uuid4().hex[:8]}"
    return [*command, *(a.format(csv=csv, out=out, alias=alias, api_key=api_key) for a in extra)]


def _check(command: tuple[str, ...], broken: Broken, code: int, stdout: str, stderr: str) -> None:
    """One clear outcome: no traceback, exit 0 or 1, and exactly one error line on failure."""
    shown = f"exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    for text in (stdout, stderr):
        assert "Traceback" not in text, shown
        assert "Error:" not in text.replace("error:", ""), shown  # no raw SomethingError: spew
    assert code in (0, 1), shown
    if broken.tracking and command in NEED_TRACKING:
        assert code == 1, shown
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    if code == 0:  # (MLflow prints "Created version '2' of model ..." on its own)
        assert errors == [], shown
        return
    others = [
        line for line in stderr.splitlines() if line and not line.startswith(("error:", "warning:"))
    ]
    assert not others, shown
    if command == ("status",):
        assert "FAIL" in stdout and errors == [], shown
    else:
        assert len(errors) == 1 and len(errors[0]) > len("error: ") + 10, shown
        assert len(errors[0]) < 300, shown  # a reason, not a dump of nested exception reprs


@pytest.mark.parametrize("broken", BROKEN, ids=[b.name for b in BROKEN])
@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_every_command_fails_with_one_line_when_a_store_is_unreachable(
    command: tuple[str, ...],
    broken: Broken,
    healthy: Settings,
    small_csv: Path,
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file: nothing can be opened under it\n")
    settings = broken.apply(healthy, blocker)
    if not broken.name.startswith("home"):  # a per-test home for the spool, same stores
        settings = settings.model_copy(update={"home": tmp_path / "home"})
    api_key = ""
    if command == ("api-key", "revoke"):  # an active key in the healthy database
        name = f"unreachable-{uuid.uuid4().hex[:8]}"
        api_key = create_api_key(healthy, name=name, actor=LEAD).info.key_id
    get_settings.cache_clear()
    result = runner.invoke(
        app, _arguments(command, small_csv, tmp_path / "out.csv", api_key), env=_env(settings)
    )
    get_settings.cache_clear()
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}\n{result.output}"
    )
    _check(command, broken, result.exit_code, result.stdout, result.stderr)


REAL_PROCESS_CASES = [
    (("status",), "tracking-postgresql-refused"),
    (("score",), "home-unopenable"),
    (("versions",), "tracking-http-refused"),
    (("train",), "artifacts-s3-refused"),
]


@pytest.mark.parametrize(
    ("command", "broken_name"),
    REAL_PROCESS_CASES,
    ids=[f"{' '.join(c)}-{b}" for c, b in REAL_PROCESS_CASES],
)
def test_a_real_process_prints_one_line_too(
    command: tuple[str, ...],
    broken_name: str,
    healthy: Settings,
    small_csv: Path,
    tmp_path: Path,
) -> None:
    broken = next(b for b in BROKEN if b.name == broken_name)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    settings = broken.apply(healthy, blocker)
    script = REPO / ".venv" / "bin" / "workbench"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")},
        **_env(settings),
    }
    done = subprocess.run(
        [str(script), *_arguments(command, small_csv, tmp_path / "out.csv")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    _check(command, broken, done.returncode, done.stdout, done.stderr)
    assert done.returncode == 1
