"""Interaction tests of the scoring pages, in-process with AppTest."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.schema import FEATURES
from tests.conftest import REPO, Trained

MAIN = str(REPO / "app" / "main.py")


def _batch(app: AppTest) -> AppTest:
    app.run()
    return app.switch_page(str(REPO / "pages" / "batch.py")).run()


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader[0].set_value((name, data, "text/csv"))
    return at.run()


def test_valid_upload_gives_results_and_downloads(app: AppTest, tiny_frame: pd.DataFrame) -> None:
    at = _upload(_batch(app), "good.csv", _csv(tiny_frame.head(500)))
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Rows in file"], metrics["Scored"], metrics["Rejected"]) == ("500", "500", "0")
    assert "Alerts" in metrics and "Amount at risk" in metrics
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Scored rows (CSV)", "Scored rows (Parquet)"]
    assert "predictions recorded in the audit log" in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("V4", "abc", "V4: 'abc' is not a number"),
        ("V7", "", "V7: empty value; expected a number"),
        ("V2", "inf", "V2: infinite value; expected a finite number"),
        ("Amount", "-12.5", "Amount: -12.5 is negative; expected >= 0"),
    ],
)
def test_bad_row_is_named_and_good_rows_still_score(
    app: AppTest, tiny_frame: pd.DataFrame, column: str, value: str, reason: str
) -> None:
    frame = tiny_frame.head(50).astype(object)
    frame.loc[16, column] = value  # data row 17
    at = _upload(_batch(app), "bad.csv", _csv(frame))
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Scored"], metrics["Rejected"]) == ("49", "1")
    rejected = at.dataframe[0].value
    assert rejected[["row", "column", "reason"]].values.tolist() == [[17, column, reason]]
    assert "Rejected rows (CSV)" in [b.proto.label for b in at.get("download_button")]


def test_a_bad_optional_label_is_a_warning_and_the_row_is_scored(
    app: AppTest, tiny_frame: pd.DataFrame
) -> None:
    frame = tiny_frame.head(50).astype(object)
    frame.loc[16, "Class"] = "3"  # data row 17
    at = _upload(_batch(app), "bad-label.csv", _csv(frame))
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Scored"], metrics["Rejected"]) == ("50", "0")
    notes = [i.value for i in at.info]
    assert (
        "Class: 1 row(s) with a bad or empty label were scored and their label ignored "
        "(row 17: 3 is not a label; expected 0 or 1)"
    ) in notes


def test_whole_file_problems_are_reported_not_crashed(app: AppTest) -> None:
    at = _upload(_batch(app), "nope.csv", b"a,b\n1,2\n")
    assert not at.exception
    assert "nope.csv: missing required columns: Time, V1" in at.error[0].value
    at = _upload(at, "all-bad.csv", _csv(pd.DataFrame({n: ["x"] for n in FEATURES})))
    assert not at.exception
    assert any("No row could be scored" in e.value for e in at.error)


def test_form_scores_and_keeps_its_inputs(app: AppTest) -> None:
    app.run()
    at = app.switch_page(str(REPO / "pages" / "score.py")).run()
    at.number_input(key="form_V14").set_value(-9.0)
    at.number_input(key="form_Amount").set_value(250.0)
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert any("Model: **" in m.value for m in at.markdown)
    assert at.number_input(key="form_V14").value == -9.0
    at.run()  # another rerun: inputs and result stay
    assert at.number_input(key="form_Amount").value == 250.0
    assert any("Model: **" in m.value for m in at.markdown)


def test_pasted_row_with_a_bad_value_names_the_field(app: AppTest) -> None:
    app.run()
    at = app.switch_page(str(REPO / "pages" / "score.py")).run()
    at.segmented_control(key="score_mode").set_value("Paste a row").run()
    values = ["1.0"] * 30
    values[4] = "abc"  # V4
    at.text_area(key="score_paste").input(",".join(values))
    at.button(key="score_paste_go").click().run()
    assert "V4: 'abc' is not a number" in at.error[0].value
    assert at.text_area(key="score_paste").value == ",".join(values)


def _chart_types(at: AppTest) -> list[str]:
    import json

    return [json.loads(c.proto.spec)["data"][0]["type"] for c in at.get("plotly_chart")]


def test_explain_page_shows_a_waterfall_for_a_chosen_row(
    app: AppTest, trained_embedded: Trained
) -> None:
    app.run()
    at = app.switch_page(str(REPO / "pages" / "explain.py")).run()
    assert not at.exception and not at.error
    assert "anonymised PCA components" in at.info[0].value
    at.session_state[f"explain_picked_row_v{trained_embedded.result.version}"] = (
        7  # a click in the picker's table
    )
    at.run()
    assert not at.exception
    assert _chart_types(at)[:1] == ["waterfall"]
    assert "bar" in _chart_types(at)  # importance
    assert len(at.image) == 2  # the beeswarm and the dependence plot
    table = next(d.value for d in at.dataframe if "feature" in d.value.columns)
    assert {"value", "contribution", "fraud median", "legitimate median"} <= set(table.columns)
    at.selectbox(key="explain_dep_feature").select("Amount").run()
    assert not at.exception


def test_explain_follows_the_last_batch(app: AppTest, tiny_frame: pd.DataFrame) -> None:
    at = _upload(_batch(app), "good.csv", _csv(tiny_frame.head(300)))
    at.switch_page(str(REPO / "pages" / "explain.py")).run()
    assert at.segmented_control(key="explain_source").value == "Last batch"
    assert at.selectbox(key="explain_batch_row").value in range(1, 301)
    assert not at.exception and _chart_types(at)[0] == "waterfall"
    # each row shows its probability and its label (checked against the uploaded file)
    pattern = re.compile(r"row (\d+) · (< 0\.0001%|> 99\.9%|\d+\.\d+%) · (fraud|legitimate)")
    options = at.selectbox(key="explain_batch_row").options
    assert len(options) == 300
    for option in options:
        found = pattern.fullmatch(option)
        assert found, option
        label = tiny_frame["Class"].iloc[int(found[1]) - 1]
        assert found[3] == ("fraud" if label == 1 else "legitimate")
    # "open batch row N on Explain" (the Batch page's contract): the page opens on that row
    at.session_state["explain_source"] = "Row of the test split"
    at.session_state["batch_explain_row"] = 42
    at.run()
    assert at.segmented_control(key="explain_source").value == "Last batch"
    assert at.selectbox(key="explain_batch_row").value == 42
    at.session_state["batch_explain_row"] = 301  # not in the batch: said, row kept
    at.run()
    assert "Row 301 is not among the last batch's scored rows." in [w.value for w in at.warning]
    assert at.selectbox(key="explain_batch_row").value == 42


def test_form_result_shows_a_waterfall(app: AppTest) -> None:
    app.run()
    at = app.switch_page(str(REPO / "pages" / "score.py")).run()
    at.button[0].click().run()
    assert "waterfall" in _chart_types(at)


def test_inputs_stay_across_a_switch_of_input_mode(app: AppTest) -> None:
    app.run()
    at = app.switch_page(str(REPO / "pages" / "score.py")).run()
    at.number_input(key="form_Amount").set_value(250.0)
    at.button[0].click().run()  # the form's Score: its values are committed on submit
    at.segmented_control(key="score_mode").set_value("Paste a row").run()
    at.text_area(key="score_paste").input("1,2,3").run()
    at.segmented_control(key="score_mode").set_value("Form").run()
    assert at.number_input(key="form_Amount").value == 250.0
    at.segmented_control(key="score_mode").set_value("Paste a row").run()
    assert at.text_area(key="score_paste").value == "1,2,3"


def test_a_blank_lines_rejected_row_shows_empty_cells(
    app: AppTest, tiny_frame: pd.DataFrame
) -> None:
    lines = _csv(tiny_frame.head(5)).decode().splitlines()
    text = "\n".join([*lines[:3], ",,,", *lines[3:]]) + "\n"  # a line of empty fields
    at = _upload(_batch(app), "blank.csv", text.encode())
    assert not at.exception
    rejected = at.dataframe[0].value
    assert rejected[["column", "reason"]].values.tolist() == [
        ["(row)", "(row): blank line, no values"]
    ]
    assert not rejected.isna().any().any() and "None" not in rejected.astype(str).values
