"""The first page render stays cheap: what every page's run imports leaves out the
packages only some pages need (bench/README.md, "First page render", issue 13)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

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


def test_the_first_run_imports_none_of_the_heavy_packages() -> None:
    code = (
        "import importlib, sys\n"
        f"for m in {FIRST_RUN!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout
