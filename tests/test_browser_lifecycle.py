"""An ML lead signed in through OpenID Connect promotes a version and rolls it back, in a
real browser; the history names them. (The provider and sign-in steps are those of
tests/test_browser_auth.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import AliasEvent, get_engine
from core.tracking import get_client
from core.training import train_from_csv
from tests.conftest import LEAD
from tests.test_browser_auth import _sign_in, provider, serve_oidc_app  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def lifecycle_app(
    provider: str,  # noqa: F811
    tiny_csv: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Settings]]:
    folder = tmp_path_factory.mktemp("lifecycle-app")
    settings = Settings(home=folder / "home")
    for _ in range(2):  # the same data twice: equal AUPRC, so the gates pass
        train_from_csv(tiny_csv, settings=settings, actor=LEAD)
    with serve_oidc_app(provider, settings, folder) as url:
        yield url, settings


def _champion(settings: Settings) -> int:
    return int(
        get_client(settings).get_model_version_by_alias(settings.model_name, "champion").version
    )


def test_an_ml_lead_promotes_and_rolls_back_in_the_browser(  # type: ignore[no-untyped-def]
    lifecycle_app: tuple[str, Settings], browser
) -> None:
    from playwright.sync_api import expect

    url, settings = lifecycle_app
    assert _champion(settings) == 1
    context, page = _sign_in(browser, url, "alice")
    page.get_by_role("link", name="Compare versions").click()
    page.get_by_role("button", name="Promote...").click(timeout=120_000)
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Reason (required, kept in the history)").fill("same data, newer run")
    dialog.get_by_label("Reason (required, kept in the history)").press("Control+Enter")
    dialog.get_by_role("button", name="Promote", exact=True).click(timeout=60_000)
    expect(page.get_by_text("@champion moved from version 1 to version 2 (promote)")).to_be_visible(
        timeout=120_000
    )
    assert _champion(settings) == 2

    page.get_by_role("link", name="Alias history").click()
    page.get_by_role("button", name="Roll back").click(timeout=60_000)
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Reason (required, kept in the history)").fill("undo for the test")
    dialog.get_by_label("Reason (required, kept in the history)").press("Control+Enter")
    dialog.get_by_role("button", name="Roll back").click(timeout=60_000)
    expect(page.get_by_text("@champion rolled back to version 1")).to_be_visible(timeout=120_000)
    context.close()
    assert _champion(settings) == 1
    with Session(get_engine(settings)) as session:
        moves = session.execute(
            select(AliasEvent.kind, AliasEvent.actor, AliasEvent.to_version)
            .where(AliasEvent.status == "confirmed")
            .order_by(AliasEvent.id)
        ).all()
    assert [tuple(m) for m in moves][-2:] == [
        ("promote", "alice@example.com", 2),
        ("rollback", "alice@example.com", 1),
    ]
