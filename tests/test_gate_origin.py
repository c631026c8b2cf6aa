"""The promotion gate says when it judges a candidate on rows of another origin: a real-data
candidate on a synthetic version's test split, or the reverse (core, the history, the CLI).

The origins are what each test trained with (``synthetic=`` below), never read back from
the code under test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.main import app
from core.compare import load_evaluation
from core.config import Settings, get_settings
from core.gates import GATE_AUPRC, GateResult, compare_data_origin, run_gates
from core.history import list_alias_history
from core.lifecycle import promote
from core.registry import get_version
from core.training import train_model
from tests.conftest import LEAD, settings_env


@dataclass(frozen=True)
class Origins:
    settings: Settings
    synthetic_live: int  # trained on data marked synthetic; champion (the first version)
    real: int  # trained on data marked real
    synthetic_other: int  # synthetic too


@pytest.fixture(scope="module")
def origins(tiny_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Origins:
    settings = Settings(home=tmp_path_factory.mktemp("origins") / "home")
    versions = [
        train_model(
            tiny_frame,
            settings=settings,
            model_kind="logreg",
            data_sha256=digest * 64,
            actor=LEAD,
            synthetic=synthetic,
        ).version
        for digest, synthetic in (("a", True), ("b", False), ("c", True))
    ]
    return Origins(settings, *versions)


def _auprc_gate(settings: Settings, *, candidate: int, current: int) -> GateResult:
    gates = run_gates(
        settings,
        candidate=get_version(settings, candidate, with_metrics=False),
        current=get_version(settings, current, with_metrics=False),
        tolerance=1.0,
    )
    assert gates[0].name == GATE_AUPRC
    return gates[0]


def test_a_real_candidate_judged_on_a_synthetic_test_split_is_warned(origins: Origins) -> None:
    gate = _auprc_gate(origins.settings, candidate=origins.real, current=origins.synthetic_live)
    assert gate.passed  # the warning comes whatever the outcome
    assert gate.warning is not None
    assert f"version {origins.real}, was trained on real data" in gate.warning
    assert (
        f"test split of version {origins.synthetic_live}, which is synthetic (generated) data"
        in gate.warning
    )
    assert "--evaluation FILE" in gate.warning
    # the history keeps it, and rows recorded before warnings existed still read
    assert GateResult.from_json(gate.as_json()) == gate
    assert GateResult.from_json({"name": "auprc", "passed": True, "detail": "d"}).warning is None


def test_the_reverse_is_warned_too_and_one_origin_is_not(origins: Origins) -> None:
    settings = origins.settings
    on_real = load_evaluation(settings, version=origins.real)
    synthetic = get_version(settings, origins.synthetic_other, with_metrics=False)
    warning = compare_data_origin(settings, candidate=synthetic, evaluation=on_real)
    assert warning is not None
    assert f"version {origins.synthetic_other}, was trained on synthetic" in warning
    assert f"test split of version {origins.real}, which is real data" in warning
    same = _auprc_gate(settings, candidate=origins.synthetic_other, current=origins.synthetic_live)
    assert same.warning is None


def test_promote_records_the_warning_and_the_cli_prints_it(origins: Origins) -> None:
    settings = origins.settings
    lenient = {**settings_env(settings), "WORKBENCH_PROMOTE_AUPRC_TOLERANCE": "1"}
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app,
            ["promote", "--version", str(origins.real), "--alias", "champion", "--reason", "r"],
            env=lenient,
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    auprc = next(i for i, line in enumerate(lines) if line.startswith("  PASS auprc:"))
    assert lines[auprc + 1].startswith(
        f"    warning: the candidate, version {origins.real}, was trained on real data"
    )
    row = list_alias_history(settings, alias="champion")[0]
    assert row.to_version == origins.real and "synthetic" in (row.gates[0].warning or "")
    # back to the synthetic version through core: judged on the real version's test split
    move = promote(
        settings.model_copy(update={"promote_auprc_tolerance": 1.0}),
        version=origins.synthetic_live,
        alias="champion",
        reason="back",
        actor=LEAD,
    )
    assert f"test split of version {origins.real}, which is real data" in move.gates[0].warning


def test_a_file_of_unknown_origin_gets_no_warning(origins: Origins, tmp_path: Path) -> None:
    settings = origins.settings
    split = load_evaluation(settings, version=origins.synthetic_live)
    path = tmp_path / "rows.csv"
    split.frame.to_csv(path, index=False)
    from_file = load_evaluation(settings, path=path)
    candidate = get_version(settings, origins.real, with_metrics=False)
    assert compare_data_origin(settings, candidate=candidate, evaluation=from_file) is None
