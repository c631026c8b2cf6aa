"""The analyst's batch path in a real browser: upload a labelled file, filter to alerts,
open one on Explain (Debian chromium through playwright)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.schema import FEATURES
from core.scoring import resolve_model
from tests.conftest import Trained
from tests.test_browser import app_url  # noqa: F401  (the server fixture)

pytestmark = pytest.mark.browser


def test_upload_a_labelled_file_filter_to_alerts_and_open_one_on_explain(  # type: ignore[no-untyped-def]
    app_url: str,  # noqa: F811
    browser,
    tiny_frame: pd.DataFrame,
    tmp_path: Path,
    trained_embedded: Trained,
) -> None:
    from playwright.sync_api import expect

    frauds = tiny_frame[tiny_frame["Class"] == 1].head(20)
    frame = pd.concat([frauds, tiny_frame[tiny_frame["Class"] == 0].head(180)])
    frame.insert(0, "transaction_id", [f"t{i:03d}" for i in range(len(frame))])
    upload = tmp_path / "labelled.csv"
    frame.to_csv(upload, index=False)
    # the alerts' second row is the second highest score (computed here, not by the page);
    # not the first, which Explain would show by default
    model = resolve_model(trained_embedded.settings).model
    probability = model.predict_proba(frame[list(FEATURES)].to_numpy(np.float64))
    second_row = 1 + int(np.argsort(-probability, kind="stable")[1])

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{app_url}/batch")
    expect(page.get_by_text("Batch scoring").first).to_be_visible(timeout=60_000)
    page.locator("input[type=file]").set_input_files(str(upload))
    expect(page.get_by_text("Evaluation against the file's labels")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("200 of 200 scored rows match")).to_be_visible(timeout=60_000)

    page.get_by_role("radio", name="alert", exact=True).click()  # the decision filter
    expect(page.get_by_text("200 of 200 scored rows match")).to_have_count(0, timeout=60_000)
    matching = page.get_by_text("scored rows match")
    alerts = int(matching.inner_text().split(" of ")[0].replace(",", ""))
    assert 0 < alerts < 200

    # the table is a canvas: click the second row's selection marker, left of its cells
    grid = page.locator("[data-testid=stDataFrame]").last  # the rows, below the matrix
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 12, box["y"] + 35 + 35 + 17)  # header, first row, middle

    expect(page.get_by_text("anonymised PCA components").first).to_be_visible(timeout=60_000)
    assert page.url.endswith("/explain")
    expect(page.get_by_text("Row of labelled.csv")).to_be_visible(timeout=60_000)
    picker = page.get_by_role("combobox", name="Row of labelled.csv (highest score first)")
    expect(picker).to_match_aria_snapshot(
        # the option reads "transaction_id t016 · > 99.9% · fraud": the row's transaction
        # id (the file has one), its score, its label
        '- combobox "Row of labelled.csv (highest score first)": '
        f"/transaction_id t{second_row - 1:03d} · .+ · .+/"
    )
    expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    expect(page.locator("[data-testid=stException]")).to_have_count(0)
    page.close()
