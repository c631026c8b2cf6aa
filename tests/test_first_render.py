"""The first page render stays cheap: what every page's run imports leaves out the
packages only some pages need (bench/README.md, "First page render", issue 13)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, free_port, settings_env

# What app/main.py and Home import on a fresh server (the first page anyone sees).
FIRST_RUN = [
    "app.ui.auth",
    "app.ui.format",
    "app.ui.pages",
    "app.ui.state",
    "core.audit",
    "core.bootstrap",
    "core.registry",
    "core.scoring",
    "core.status",
]
# Imported where a page loads a model, trains, compares or tests drift; ~4 s together on
# the first render before they were moved there (streamlit itself brings plotly).
HEAVY = ["boto3", "lightgbm", "matplotlib", "scipy.stats", "shap", "sklearn"]


def _loaded_after_importing(modules: list[str], watched: list[str]) -> str:
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in {watched!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_the_first_run_imports_none_of_the_heavy_packages() -> None:
    assert _loaded_after_importing(FIRST_RUN, HEAVY) == "[]"


def test_comparing_versions_does_not_import_training() -> None:
    # core.compare needs core.training.provenance only: not the package's train module
    watched = ["core.training.train", "matplotlib"]
    assert _loaded_after_importing(["core.compare", "app.ui.compare_view"], watched) == "[]"


def test_prewarm_loads_the_live_model_and_the_other_pages_modules(trained_embedded) -> None:  # type: ignore[no-untyped-def]
    settings = trained_embedded.settings
    where = f"Settings(home={str(settings.home)!r}, model_name={settings.model_name!r})"
    code = (
        "import sys\n"
        "from app.ui import state\n"
        "from core.config import Settings\n"
        "from core.registry import _adapters\n"
        "state.PREWARM_DELAY = 0\n"
        f"state.prewarm({where})\n"
        "state._prewarmed[0].join(120)\n"
        "state.prewarm(None)  # once per process: a second call starts nothing\n"
        "print(len(state._prewarmed), sorted(v for (_, _, v) in _adapters),"
        " 'core.training.train' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"1 [{trained_embedded.result.version}] True", out.stderr


def test_prewarm_without_a_live_model_still_imports_the_pages_modules(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An empty home (no version, no alias): the live model cannot load, which the pages
    report; the thread goes on to the imports instead of dying with the error."""
    where = f"Settings(home={str(tmp_path / 'empty')!r})"
    code = (
        "import sys\n"
        "from app.ui import state\n"
        "from core.config import Settings\n"
        "state.PREWARM_DELAY = 0\n"
        f"state.prewarm({where})\n"
        "state._prewarmed[0].join(120)\n"
        "print(state._prewarmed[0].is_alive(), 'core.training.train' in sys.modules,"
        " 'app.ui.compare_view' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False True True", out.stderr


def _warm_start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """app/serve.py's warm start, alone in a fresh process, as the server runs it before it
    answers; prints what it left loaded."""
    code = (
        "import sys\n"
        "from app import serve\n"
        "from core.registry import _adapters\n"
        "serve.warm_start()\n"
        "print(sorted(m for m in ('mlflow', 'app.ui.provenance_view', 'app.ui.compare_view',"
        " 'core.training.train') if m in sys.modules), sorted(v for (_, _, v) in _adapters))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )


def test_the_warm_start_loads_what_home_and_the_other_pages_need(trained_embedded) -> None:  # type: ignore[no-untyped-def]
    out = _warm_start(settings_env(trained_embedded.settings))
    loaded = "['app.ui.compare_view', 'app.ui.provenance_view', 'core.training.train', 'mlflow']"
    assert out.stdout.strip() == f"{loaded} [{trained_embedded.result.version}]", out.stderr


@pytest.mark.parametrize("tracking", ["closed port", "unknown scheme"])
def test_the_warm_start_with_a_store_down_still_lets_the_server_start(tmp_path, tracking) -> None:  # type: ignore[no-untyped-def]
    """Nothing in the warm start is needed: with the tracking store unreachable (a closed
    port) or misconfigured it logs and returns, and the pages report it (Home's Backends
    table; the misconfiguration on every page)."""
    uri = {
        "closed port": f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",
        "unknown scheme": "ftp://127.0.0.1/mlflow",
    }[tracking]
    out = _warm_start({"WORKBENCH_HOME": str(tmp_path / "home"), "WORKBENCH_TRACKING_URI": uri})
    assert out.stdout.strip().endswith("[]"), out.stderr  # no model, and no exception
    if tracking == "unknown scheme":
        assert "warm start stopped early" in out.stderr


def test_the_server_answers_health_only_after_the_warm_start(trained_embedded) -> None:  # type: ignore[no-untyped-def]
    """app/serve.py's lifespan: the server answers nobody, health included, until the warm
    start has loaded the live model and the other pages' modules (or WARM_TIMEOUT passed).
    Starlette's TestClient runs the lifespan as uvicorn does, then sends the request."""
    code = (
        "import sys\n"
        "from starlette.testclient import TestClient\n"
        "from app.serve import app\n"
        "from core.registry import _adapters\n"
        "with TestClient(app) as client:\n"
        "    status = client.get('/_stcore/health').status_code\n"
        "    print(status, 'core.training.train' in sys.modules,"
        " sorted(v for (_, _, v) in _adapters))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **settings_env(trained_embedded.settings)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == f"200 True [{trained_embedded.result.version}]", out.stderr
