"""House rules that code review alone would let slip."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

FORBIDDEN = {"streamlit", "fastapi", "starlette"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_source_never_imports_ui_or_web_frameworks() -> None:
    offenders = {
        str(path.relative_to(REPO)): sorted(_imports(path) & FORBIDDEN)
        for path in (REPO / "core").rglob("*.py")
        if _imports(path) & FORBIDDEN
    }
    assert offenders == {}


def test_importing_all_of_core_loads_no_streamlit() -> None:
    # Only streamlit is checked transitively: MLflow's own model flavors import fastapi
    # (for their scoring server), which is MLflow's business, not a dependency of core.
    modules = sorted(
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for path in (REPO / "core").rglob("*.py")
        if "migrations" not in path.parts
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'streamlit'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout


def test_pages_do_not_talk_to_backends_directly() -> None:
    direct = {"mlflow", "boto3", "sqlalchemy", "psycopg2"}
    offenders = {
        path.name: sorted(_imports(path) & direct)
        for path in (REPO / "pages").glob("*.py")
        if _imports(path) & direct
    }
    assert offenders == {}
