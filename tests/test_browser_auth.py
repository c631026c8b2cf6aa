"""Sign-in in a real browser: OpenID Connect against a real provider, and proxy headers.

The provider is PyPI's ``oidc-provider-mock`` on loopback; the test sets each user's
claims through its ``PUT /users/{sub}``. The app runs as ``make run`` runs it, with a
temporary secrets file (Streamlit's ``secrets.files`` option) holding the ``[auth]``
section, exactly as Streamlit documents it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import Settings
from core.db import ScoringEvent, get_engine
from core.errors import PermissionDenied
from core.identity import actor_for
from core.training import train_from_csv
from tests.conftest import REPO, Trained, free_port, serve, settings_env

pytestmark = pytest.mark.browser

ROLES = "group:fraud-leads=ml_lead,group:fraud-team=analyst"
USERS = {
    "alice": {"email": "alice@example.com", "name": "Alice", "groups": ["fraud-leads"]},
    "bob": {"email": "bob@example.com", "name": "Bob", "groups": ["fraud-team"]},
    # only the browser's audit test uses carl: other tests write to the same audit log
    "carl": {"email": "carl@example.com", "name": "Carl", "groups": ["fraud-team"]},
}


def _streamlit(port: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO / "app" / "serve.py"),  # as make run serves it
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        *extra,
    ]


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "oidc_provider_mock", "--host", "127.0.0.1", "--port"]
    log_path = tmp_path_factory.mktemp("oidc") / "provider.log"
    with serve([*command, str(port)], port=port, log_path=log_path, what="OIDC provider"):
        url = f"http://127.0.0.1:{port}"
        for sub, claims in USERS.items():  # the test chooses each user's claims
            request = urllib.request.Request(
                f"{url}/users/{sub}",
                data=json.dumps(claims).encode(),
                method="PUT",
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 204
        yield url


@contextmanager
def serve_oidc_app(provider: str, settings: Settings, folder: Path) -> Iterator[str]:
    """The app on ``settings`` with sign-in through ``provider``, as ``make run`` starts it,
    with a temporary secrets file holding the ``[auth]`` section; yields its URL."""
    port = free_port()
    secrets_file = folder / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        'client_id = "fraud-workbench"\n'
        f'client_secret = "{secrets.token_urlsafe(16)}"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    env = {
        **os.environ,
        **settings_env(settings),
        "WORKBENCH_AUTH": "oidc",
        "WORKBENCH_ROLES": ROLES,
    }
    command = _streamlit(port, "--secrets.files", str(secrets_file))
    with serve(
        command,
        port=port,
        log_path=folder / "streamlit.log",
        cwd=REPO,
        what="streamlit",
        env=env,
        timeout=90,
    ):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def oidc_app(
    provider: str, trained_embedded: Trained, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with serve_oidc_app(
        provider, trained_embedded.settings, tmp_path_factory.mktemp("oidc-app")
    ) as url:
        yield url


def _sign_in(browser, url: str, sub: str):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name="Sign in").click(timeout=60_000)
    page.locator("input[name=sub]").fill(sub, timeout=30_000)  # the provider's own form
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text(USERS[sub]["email"]).first).to_be_visible(timeout=60_000)
    return context, page


def test_an_ml_lead_and_an_analyst_see_different_pages(  # type: ignore[no-untyped-def]
    oidc_app: str, browser, trained_embedded: Trained, tiny_csv: Path
) -> None:
    from playwright.sync_api import expect

    lead_context, lead = _sign_in(browser, oidc_app, "alice")
    expect(lead.get_by_text("role ml_lead")).to_be_visible()
    expect(lead.get_by_text("Mode: signed in with OpenID Connect")).to_be_visible()
    expect(lead.get_by_role("link", name="Train a model")).to_be_visible()
    lead.get_by_role("link", name="Train a model").click()
    expect(lead.get_by_text("Labelled transactions CSV")).to_be_visible(timeout=60_000)
    lead_context.close()

    context, page = _sign_in(browser, oidc_app, "bob")
    expect(page.get_by_text("role analyst")).to_be_visible()
    expect(page.get_by_role("link", name="Batch scoring")).to_be_visible()
    expect(page.get_by_role("link", name="Train a model")).to_have_count(0)
    page.goto(f"{oidc_app}/train")  # not served to an analyst, even by its address
    expect(page.get_by_text("role analyst")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Backends")).to_be_visible(timeout=60_000)  # Home instead
    expect(page.get_by_text("is for ML leads; you are signed in as analyst")).to_be_visible()
    expect(page.get_by_text("Labelled transactions CSV")).to_have_count(0)
    name = page.get_by_text("bob@example.com").first.inner_text().strip()
    context.close()

    # The same person, as the app established them, asking core for an ML-lead action.
    settings = trained_embedded.settings.model_copy(update={"auth": "oidc", "roles": ROLES})
    bob = actor_for(settings, name=name, groups=USERS["bob"]["groups"], mode="oidc", loopback=False)
    with pytest.raises(
        PermissionDenied, match=re.escape("bob@example.com (role analyst) may not train")
    ):
        train_from_csv(tiny_csv, settings=settings, actor=bob)


def test_the_audit_log_records_the_signed_in_user(  # type: ignore[no-untyped-def]
    oidc_app: str, browser, trained_embedded: Trained
) -> None:
    from playwright.sync_api import expect

    context, page = _sign_in(browser, oidc_app, "carl")
    page.get_by_role("link", name="Score a transaction").click()
    page.get_by_role("button", name="Score").first.click(timeout=60_000)
    expect(page.get_by_text("Recorded in the audit log").first).to_be_visible(timeout=60_000)
    context.close()
    with Session(get_engine(trained_embedded.settings)) as session:
        actors = session.scalars(
            select(ScoringEvent.actor).where(ScoringEvent.source == "ui")
        ).all()
    assert "carl@example.com" in actors


def test_sign_out_returns_to_the_sign_in(oidc_app: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    context, page = _sign_in(browser, oidc_app, "alice")
    page.get_by_role("button", name="Sign out").click()
    # RP-initiated logout: the provider's own end-session page, then back to the app
    page.get_by_role("button", name="End session").click(timeout=60_000)
    page.wait_for_url(f"{oidc_app}/**", timeout=60_000)
    page.goto(oidc_app)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("alice@example.com")).to_have_count(0)
    context.close()


@pytest.fixture(scope="module")
def header_app(
    trained_embedded: Trained, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        **settings_env(trained_embedded.settings),
        "WORKBENCH_AUTH": "header",
        "WORKBENCH_ROLES": ROLES,
        "WORKBENCH_AUTH_GROUPS_HEADER": "X-Forwarded-Groups",  # off unless configured
    }
    log_path = tmp_path_factory.mktemp("header-app") / "streamlit.log"
    with serve(
        _streamlit(port),
        port=port,
        log_path=log_path,
        cwd=REPO,
        what="streamlit",
        env=env,
        timeout=90,
    ):
        yield f"http://127.0.0.1:{port}"


def test_header_mode_takes_the_user_and_groups_from_the_proxy(  # type: ignore[no-untyped-def]
    header_app: str, browser
) -> None:
    from playwright.sync_api import expect

    lead = browser.new_context(
        extra_http_headers={"X-Forwarded-User": "hank", "X-Forwarded-Groups": "x, fraud-leads"}
    )
    page = lead.new_page()
    page.goto(header_app)
    expect(page.get_by_text("role ml_lead")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("hank", exact=True)).to_be_visible()
    expect(page.get_by_text("Mode: signed in by the reverse proxy")).to_be_visible()
    expect(page.get_by_role("link", name="Train a model")).to_be_visible()
    lead.close()

    analyst = browser.new_context(extra_http_headers={"X-Forwarded-User": "ivy"})
    page = analyst.new_page()
    page.goto(header_app)
    expect(page.get_by_text("role analyst")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("link", name="Train a model")).to_have_count(0)
    analyst.close()

    nobody = browser.new_context()
    page = nobody.new_page()
    page.goto(header_app)
    expect(page.get_by_text("No user name arrived in the")).to_be_visible(timeout=60_000)
    nobody.close()
