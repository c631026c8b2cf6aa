"""No traceback reaches a user of the app: every page, with each store unreachable in turn.

The same broken stores as the command-line test (tests/test_cli_unreachable.py). A page
that cannot work without the broken store shows ``st.error`` with a readable message; no
page raises (``at.exception`` stays empty); and what the user typed is still there after
the failure.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.ui.pages import PAGE_SPECS
from core.config import Settings, get_settings
from core.training import train_from_csv
from tests.conftest import LEAD, REPO, Trained, settings_env
from tests.test_cli_unreachable import BROKEN, Broken

MAIN = str(REPO / "app" / "main.py")
PAGES = [name for name, *_ in PAGE_SPECS]


def _point(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Make ``settings`` the process settings, as the app reads them."""
    env = {**settings_env(settings), "WORKBENCH_EXPERIMENT_NAME": settings.experiment_name}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if not settings.s3_endpoint_url:
        monkeypatch.delenv("WORKBENCH_S3_ENDPOINT_URL", raising=False)
    get_settings.cache_clear()


def _clean(message: str) -> bool:
    """A message for a person: no traceback, no nested exception reprs, not empty."""
    return (
        len(message) > 10
        and "Traceback" not in message
        and "Caused by" not in message
        and "Max retries exceeded" not in message
    )


@pytest.mark.parametrize("broken", BROKEN, ids=[b.name for b in BROKEN])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_an_error_not_an_exception(
    page: str,
    broken: Broken,
    trained_embedded: Trained,
    tmp_path: Path,
    workbench_env: pytest.MonkeyPatch,
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file: nothing can be opened under it\n")
    settings = broken.apply(trained_embedded.settings, blocker)
    if not broken.name.startswith("home"):
        settings = settings.model_copy(update={"home": tmp_path / "home"})
    _point(workbench_env, settings)
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    at.switch_page(str(REPO / "pages" / page)).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert all(_clean(m) for m in errors), errors
    if page == "home.py" or (broken.tracking and page != "home.py"):
        assert errors, f"{page} with {broken.name} shows no error"


@pytest.fixture(scope="module")
def movable(tiny_csv: Path, embedded_home: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A model whose artifacts live in a folder of their own, which a test can take away."""
    folder = tmp_path_factory.mktemp("movable")
    settings = Settings(
        home=embedded_home,
        artifact_root=(folder / "artifacts").as_uri(),
        experiment_name=f"movable-{uuid.uuid4().hex[:8]}",
        model_name=f"movable-{uuid.uuid4().hex[:8]}",
    )
    train_from_csv(tiny_csv, settings=settings, actor=LEAD)
    return settings, folder / "artifacts"


class _ArtifactsGone:
    """Replace the artifact folder by a regular file (even root cannot read under it)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.away = folder, folder.with_name("artifacts-away")

    def __enter__(self) -> None:
        self.folder.rename(self.away)
        self.folder.write_text("not a folder any more")

    def __exit__(self, *_: object) -> None:
        self.folder.unlink()
        self.away.rename(self.folder)


@pytest.mark.parametrize(
    ("page", "pick"),
    [("score.py", ("score_mode", "From the test split")), ("explain.py", None)],
)
def test_a_test_split_that_cannot_be_fetched_is_an_error(
    page: str,
    pick: tuple[str, str] | None,
    movable: tuple[Settings, Path],
    workbench_env: pytest.MonkeyPatch,
) -> None:
    settings, artifacts = movable
    _point(workbench_env, settings)
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    # the live model and its medians are loaded (and cached) while the store still answers
    at.switch_page(str(REPO / "pages" / "score.py")).run()
    assert not at.exception and not at.error
    with _ArtifactsGone(artifacts):
        at.switch_page(str(REPO / "pages" / page)).run()
        if pick is not None:
            at.segmented_control(key=pick[0]).set_value(pick[1]).run()
        assert not at.exception, [e.value for e in at.exception]
        errors = [e.value for e in at.error]
        assert any("test split" in m for m in errors), errors
        assert all(_clean(m) for m in errors), errors
        if pick is not None:
            assert at.segmented_control(key=pick[0]).value == pick[1]


def test_form_inputs_survive_a_tracking_store_outage(
    trained_embedded: Trained, tmp_path: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    healthy = trained_embedded.settings
    _point(workbench_env, healthy)
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    at.switch_page(str(REPO / "pages" / "score.py")).run()
    at.number_input(key="form_V14").set_value(-9.0)
    at.number_input(key="form_Amount").set_value(250.0)
    at.button[0].click().run()  # a form sends its values when submitted
    assert not at.exception and not at.error

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    down = next(b for b in BROKEN if b.name == "tracking-sqlite-unopenable").apply(healthy, blocker)
    _point(workbench_env, down)
    at.run()
    assert not at.exception and at.error, "the outage must show as an error"

    _point(workbench_env, healthy)
    at.run()
    assert not at.exception and not at.error
    assert at.number_input(key="form_V14").value == -9.0
    assert at.number_input(key="form_Amount").value == 250.0


def test_a_database_outage_while_scoring_spools_and_keeps_the_inputs(
    trained_embedded: Trained, tmp_path: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    down = (
        next(b for b in BROKEN if b.name == "database-sqlite-unopenable")
        .apply(trained_embedded.settings, blocker)
        .model_copy(update={"home": tmp_path / "home"})
    )
    _point(workbench_env, down)
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    at.switch_page(str(REPO / "pages" / "score.py")).run()
    at.number_input(key="form_V14").set_value(-9.0)
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert any("local spool" in w.value for w in at.warning)
    assert at.number_input(key="form_V14").value == -9.0
    shutil.rmtree(tmp_path / "home", ignore_errors=True)


def test_home_points_out_an_old_home_in_the_current_folder(
    tmp_path: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "project" / ".workbench"
    old.mkdir(parents=True)
    workbench_env.chdir(old.parent)
    settings = Settings(home=tmp_path / "home")
    _point(workbench_env, settings)
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    assert not at.exception
    assert at.warning[0].value == (
        f"an old workbench home exists at {old} but the home in use is {settings.home}; "
        f"to keep using the old one: export WORKBENCH_HOME={old}"
    )
