"""House rules that code review alone would let slip."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

FORBIDDEN = {"streamlit", "fastapi", "starlette", "typer", "rich", "click"}
# Interfaces sit above core and never import each other.
INTERFACES = ("app", "pages", "cli", "api")
# Lower core layers never import the higher ones (scoring, explain, registry, ...).
LOWER = ("auth", "config", "errors", "schema", "storage", "db")


def _modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports (``a.b.c``), wherever the import sits."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _imports(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _modules(path)}


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


def test_interfaces_never_import_each_other() -> None:
    # app/ and pages/ form the Streamlit interface together; cli/ and api/ are its peers.
    peers = {"app": {"cli", "api"}, "pages": {"cli", "api"}, "cli": {"app", "pages", "api"}}
    peers["api"] = {"app", "pages", "cli"}
    offenders = {
        str(path.relative_to(REPO)): sorted(_imports(path) & banned)
        for folder, banned in peers.items()
        if (REPO / folder).exists()
        for path in (REPO / folder).rglob("*.py")
        if _imports(path) & banned
    }
    assert offenders == {}
    assert not (REPO / "core" / "cli.py").exists(), "the command line lives in cli/, above core"


def test_lower_core_layers_never_import_higher_ones() -> None:
    offenders: dict[str, list[str]] = {}
    for layer in LOWER:
        paths = [REPO / "core" / f"{layer}.py", *(REPO / "core" / layer).rglob("*.py")]
        for path in (p for p in paths if p.exists()):
            higher = sorted(
                name
                for name in _modules(path)
                if name.startswith("core.") and name.split(".")[1] not in LOWER
            )
            if higher:
                offenders[str(path.relative_to(REPO))] = higher
    assert offenders == {}


MAX_LINES = 400  # the house rule (STYLE.md): modules under ~400 lines; split early


def test_modules_stay_under_the_house_size() -> None:
    folders = ("core", "cli", "app", "pages", "api")
    sizes = {
        str(path.relative_to(REPO)): len(path.read_text().splitlines())
        for folder in folders
        if (REPO / folder).exists()
        for path in (REPO / folder).rglob("*.py")
    }
    assert len(sizes) > 20  # the walk found the code
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}
