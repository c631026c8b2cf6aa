"""One real browser (Debian chromium, driven by playwright) against the app on loopback."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, Trained, free_port, serve, settings_env

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def app_url(trained_embedded: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    command = [
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
    ]
    env = {**os.environ, **settings_env(trained_embedded.settings)}
    log_path = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    # run from the repo so .streamlit/config.toml applies
    with serve(
        command, port=port, log_path=log_path, cwd=REPO, what="streamlit", env=env, timeout=90
    ):
        yield f"http://127.0.0.1:{port}"


def test_home_page_shows_the_live_model(app_url: str, browser, trained_embedded: Trained) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(app_url)
    settings, version = trained_embedded.settings, trained_embedded.result.version
    expect(page.get_by_text("Fraud Workbench").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text(f"version {version}", exact=False).first).to_be_visible(timeout=60_000)
    expect(page.get_by_text(settings.model_name).first).to_be_visible()
    expect(page.get_by_text("AUPRC").first).to_be_visible()
    page.close()


def test_batch_page_upload_and_download(  # type: ignore[no-untyped-def]
    app_url: str, browser, tiny_frame, tmp_path: Path
) -> None:
    """The downloads are links to the server's download route (app/serve.py), streamed
    from the session's files; clicking one downloads the file."""
    import pandas as pd
    from playwright.sync_api import expect

    upload = tmp_path / "browser-batch.csv"
    frame = tiny_frame.head(200).astype(object)
    frame.loc[9, "V3"] = "bad"
    frame.to_csv(upload, index=False)
    page = browser.new_page(accept_downloads=True)
    page.goto(f"{app_url}/batch")
    expect(page.get_by_text("Batch scoring").first).to_be_visible(timeout=60_000)
    page.locator("input[type=file]").set_input_files(str(upload))
    link = page.get_by_role("link", name="Scored rows (CSV)")
    expect(link).to_be_visible(timeout=60_000)
    expect(page.get_by_text("200 rows in the file = 199 scored + 1 rejected")).to_be_visible()
    assert link.get_attribute("href").startswith("/downloads/")
    with page.expect_download(timeout=60_000) as caught:
        link.click()  # a new tab, which the browser turns into this page's download
    path = tmp_path / "downloaded.csv"
    caught.value.save_as(path)
    assert caught.value.suggested_filename == "browser-batch.scored.csv"
    scored = pd.read_csv(path)
    assert len(scored) == 199
    assert {"fraud_probability", "decision", "model_version"} <= set(scored.columns)
    assert scored["row"].is_monotonic_increasing  # the file's own order
    rejected = page.get_by_role("link", name="Rejected rows (CSV)").get_attribute("href")
    answer = page.request.get(f"{app_url}{rejected}")
    assert answer.status == 200 and "V3" in answer.text() and "bad" in answer.text()
    page.close()


def test_explain_page_opens(app_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(f"{app_url}/explain")
    expect(page.get_by_text("anonymised PCA components").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("The live model overall")).to_be_visible(timeout=60_000)
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    page.close()


def test_drift_page_opens(app_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(f"{app_url}/drift")
    expect(page.get_by_text("Current data").first).to_be_visible(timeout=60_000)
    # the run has finished once either the empty-window note or a report shows
    done = re.compile("No scoring events with drift counts|Flagged")
    expect(page.get_by_text(done).first).to_be_visible(timeout=60_000)
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    page.close()
