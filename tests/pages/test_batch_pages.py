"""The Batch scoring page as an analyst works in it: a labelled file is evaluated, the table
filters over the whole file, and a row opens on Explain (in-process with AppTest)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.registry import read_threshold
from core.schema import FEATURES
from core.scoring import resolve_model
from tests.conftest import REPO, Trained

MAIN = str(REPO / "app" / "main.py")
ROWS = 2_000  # more than the 1,000 rows the table shows, with about 20 frauds


@pytest.fixture(scope="module")
def labelled(tiny_frame: pd.DataFrame) -> pd.DataFrame:
    frame = tiny_frame.head(ROWS).copy()
    frame.insert(0, "transaction_id", [f"t{i:05d}" for i in range(ROWS)])
    return frame


@pytest.fixture(scope="module")
def expected(trained_embedded: Trained, labelled: pd.DataFrame) -> dict[str, np.ndarray | float]:
    """The live version's probabilities and threshold for the file, computed here (not by
    the page) so the counts below are a hand computation with numpy."""
    settings = trained_embedded.settings
    model = resolve_model(settings).model
    probability = model.predict_proba(labelled[list(FEATURES)].to_numpy(np.float64))
    return {"probability": probability, "threshold": read_threshold(settings, model.info)}


def _uploaded(app: AppTest, frame: pd.DataFrame) -> AppTest:
    app.run()
    at = app.switch_page(str(REPO / "pages" / "batch.py")).run()
    at.file_uploader[0].set_value(("labelled.csv", frame.to_csv(index=False).encode(), "text/csv"))
    at.run()
    assert not at.exception and not at.error
    return at


def _count(cell: str) -> int:
    return int(cell.split(" ")[0].replace(",", ""))


def test_a_labelled_batch_shows_its_confusion_matrix(
    app: AppTest, labelled: pd.DataFrame, expected: dict
) -> None:
    at = _uploaded(app, labelled)
    fraud = labelled["Class"].to_numpy() == 1
    alert = expected["probability"] >= expected["threshold"]
    matrix = next(d.value for d in at.dataframe if d.value.index.name == "label")
    shown = [[_count(c) for c in matrix.loc[name, ["alert", "no alert"]]] for name in matrix.index]
    assert shown == [
        [int(np.sum(alert & fraud)), int(np.sum(~alert & fraud))],
        [int(np.sum(alert & ~fraud)), int(np.sum(~alert & ~fraud))],
    ]
    assert fraud.sum() > 0 and np.sum(alert & fraud) > 0  # the file tests something
    metrics = {m.label: m.value for m in at.metric}
    caught = labelled.loc[alert & fraud, "Amount"].sum()
    assert metrics["Fraud amount caught"] == f"{caught:,.2f}"
    assert metrics["Recall"] == f"{np.sum(alert & fraud) / fraud.sum():.1%}"
    assert "saving a threshold" not in " ".join(c.value for c in at.caption)
    assert any("ML lead's audited action" in c.value for c in at.caption)
    # at the live threshold nothing changed: no arrow over "+0"
    assert not any(m.delta for m in at.metric if m.label in ("Alerts", "False alarms"))

    at.slider(key="batch_what_if").set_value(0.0).run()  # every row an alert
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Alerts"] == f"{ROWS:,}"
    assert metrics["False alarms"] == f"{int((~fraud).sum()):,}"
    deltas = {m.label: m.delta for m in at.metric}
    assert deltas["Alerts"] == f"{ROWS - int(alert.sum()):+,}"


def _matching(at: AppTest) -> int:
    caption = next(c.value for c in at.caption if "scored rows match" in c.value)
    return int(re.match(r"([\d,]+) of", caption)[1].replace(",", ""))


def _table(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "decision" in d.value.columns)


def test_filters_narrow_the_table(app: AppTest, labelled: pd.DataFrame, expected: dict) -> None:
    at = _uploaded(app, labelled)
    alert = expected["probability"] >= expected["threshold"]
    table = _table(at)
    assert len(table) == 1_000 and _matching(at) == ROWS
    assert list(table.columns[:7]) == [
        "row",
        "transaction_id",
        "fraud_probability",
        "probability",
        "Class",
        "Class_invalid",  # a bad label's text; empty here: every label is 0 or 1
        "decision",
    ]
    assert (table["Class_invalid"] == "").all()
    # the score once: a bar without a number (rounded to 4 digits it read "1.0000")
    frame = next(d for d in at.dataframe if "decision" in d.value.columns)
    bar = json.loads(frame.proto.columns)["fraud_probability"]
    assert bar["type_config"]["type"] == "progress" and bar["type_config"]["format"] == " "
    assert json.loads(frame.proto.columns)["reason_1"]["width"] == "large"  # not cut short
    # the text has the digits the score has: never "1.0000" or "100.0000%"
    assert table["probability"].str.fullmatch(r"< 0\.0001%|> 99\.9%|\d{1,2}\.\d{1,4}%").all()
    assert (table.loc[table["decision"] == "no alert", "reason_1"] == "").all()

    at.segmented_control(key="batch_filter_decision").set_value("alert").run()
    table = _table(at)
    assert _matching(at) == int(alert.sum()) == len(table)
    assert set(table["decision"]) == {"alert"}

    at.segmented_control(key="batch_filter_decision").set_value(None)
    at.segmented_control(key="batch_filter_label").set_value("fraud").run()
    table = _table(at)
    assert _matching(at) == int((labelled["Class"] == 1).sum()) == len(table)
    assert set(table["Class"]) == {1}

    # the lowest-scored row is far outside the 1,000 shown: the search covers the file
    lowest = labelled["transaction_id"].to_numpy()[np.argmin(expected["probability"])]
    at.segmented_control(key="batch_filter_label").set_value(None)
    at.text_input(key="batch_search").input(lowest).run()
    table = _table(at)
    assert table["transaction_id"].tolist() == [lowest]


def test_results_live_on_disk_and_a_row_opens_on_explain(
    app: AppTest, labelled: pd.DataFrame, trained_embedded: Trained
) -> None:
    at = _uploaded(app, labelled.head(300))
    run = at.session_state["batch_run"]
    folder = run.files.folder
    batches = trained_embedded.settings.home / "batches"
    assert (
        folder.parent.parent == batches and folder.parent.name == at.session_state["batch_session"]
    )
    assert (
        run.files.scored.is_file() and not run.files.upload.exists()
    )  # the copy is gone once scored
    assert run.result.scored is None  # no frame of the rows in session state
    # the table's row click sets this key (AppTest cannot click rows)
    at.session_state["batch_explain_row"] = 250
    at.switch_page(str(REPO / "pages" / "explain.py")).run()
    assert not at.exception
    assert at.segmented_control(key="explain_source").value == "Last batch"
    assert at.selectbox(key="explain_batch_row").value == 250


def test_results_swept_between_reruns_are_said_not_silently_gone(
    app: AppTest, labelled: pd.DataFrame
) -> None:
    import shutil

    at = _uploaded(app, labelled.head(50))
    shutil.rmtree(at.session_state["batch_run"].files.folder)  # as the sweep does
    at.run()
    assert not at.exception and not at.error
    assert any("labelled.csv were removed" in i.value for i in at.info)
    assert "batch_run" not in at.session_state


def test_a_file_that_cannot_be_scored_leaves_the_previous_results(
    app: AppTest, labelled: pd.DataFrame
) -> None:
    at = _uploaded(app, labelled.head(50))
    before = at.session_state["batch_run"]
    at.file_uploader[0].set_value(("wrong.csv", b"a,b\n1,2\n", "text/csv")).run()
    assert at.error[0].value.startswith("wrong.csv: missing required columns")
    assert at.session_state["batch_run"] is before and before.files.exists()
    assert "Results of **labelled.csv**." in [c.value for c in at.caption]
    assert len(_table(at)) == 50


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


@pytest.fixture(scope="module")
def false_alarms(labelled: pd.DataFrame, expected: dict) -> tuple[pd.DataFrame, int, int]:
    """The labelled file plus a few alerted frauds again, labelled legitimate (the model
    alerts on none of its legitimate rows): false alarms for weighting to change the
    precision. With the true and false positives at the live threshold, counted here."""
    alert = expected["probability"] >= expected["threshold"]
    again = np.flatnonzero(alert & (labelled["Class"] == 1).to_numpy())[:5]
    copies = labelled.iloc[again].assign(Class=0)
    copies["transaction_id"] = [f"again{i}" for i in range(len(copies))]
    frame = pd.concat([labelled, copies], ignore_index=True)
    alert = np.r_[alert, alert[again]]
    fraud = frame["Class"].to_numpy() == 1
    return frame, int(np.sum(alert & fraud)), int(np.sum(alert & ~fraud))


def test_a_sampling_fraction_weights_precision_to_the_natural_prevalence(
    app: AppTest, false_alarms: tuple[pd.DataFrame, int, int]
) -> None:
    frame, tp, fp = false_alarms
    at = _uploaded(app, frame)
    assert tp > 0 and fp > 0  # weighting changes the precision of this file
    # the version was trained on every row (F = 1): nothing is weighted at first
    fraction = at.number_input[0]
    assert fraction.label == "Sampling fraction of legitimate rows" and fraction.value == 1.0
    assert "Precision (natural prevalence)" not in _metrics(at)
    assert any(c.value.startswith("Starts at 1: the file taken as it is") for c in at.caption)

    fraction.set_value(0.1).run()
    metrics = _metrics(at)
    assert metrics["Precision"] == f"{tp / (tp + fp):.1%}"  # raw, beside the weighted one
    # each legitimate row counts 1 / 0.1 = 10 times
    assert metrics["Precision (natural prevalence)"] == f"{tp / (tp + fp / 0.1):.1%}"
    assert metrics["AUPRC (natural prevalence)"] != metrics["AUPRC"]


def test_the_fraction_starts_at_the_one_the_version_was_trained_with(
    app: AppTest, false_alarms: tuple[pd.DataFrame, int, int]
) -> None:
    import shutil
    from dataclasses import replace

    from core.scoring.batch_files import BatchFiles

    frame, tp, fp = false_alarms
    at = _uploaded(app, frame)
    run = at.session_state["batch_run"]
    # the same results, scored by a version trained on a quarter of the legitimate rows
    folder = run.files.folder.parent / ("f" * 32)
    shutil.copytree(run.files.folder, folder)
    at.session_state["batch_run"] = replace(run, files=BatchFiles(folder), sampling_fraction=0.25)
    at.run()
    assert at.number_input[0].value == 0.25
    assert any(c.value.startswith("Starts at 0.25, the fraction this version") for c in at.caption)
    assert _metrics(at)["Precision (natural prevalence)"] == f"{tp / (tp + fp / 0.25):.1%}"


def test_bad_labels_stay_visible_and_are_counted_apart(
    app: AppTest, labelled: pd.DataFrame, expected: dict
) -> None:
    frame = labelled.astype({"Class": object})
    bad = {3: "x", 7: "2", 11: "-1", 15: ""}  # file rows 4, 8, 12 and 16
    for i, value in bad.items():
        frame.loc[i, "Class"] = value
    at = _uploaded(app, frame)
    valid = ~np.isin(np.arange(ROWS), list(bad))
    fraud = labelled["Class"].to_numpy() == 1
    alert = expected["probability"] >= expected["threshold"]
    matrix = next(d.value for d in at.dataframe if d.value.index.name == "label")
    shown = [[_count(c) for c in matrix.loc[name, ["alert", "no alert"]]] for name in matrix.index]
    assert shown == [
        [int(np.sum(valid & alert & fraud)), int(np.sum(valid & ~alert & fraud))],
        [int(np.sum(valid & alert & ~fraud)), int(np.sum(valid & ~alert & ~fraud))],
    ]
    assert any(
        "Left out: 3 with an invalid Class (not 0 or 1; the value is in the Class_invalid "
        "column) and 1 with an empty Class." in c.value
        for c in at.caption
    )
    # the table shows what the file said, for the row searched
    for i, text in bad.items():
        at.text_input(key="batch_search").input(labelled["transaction_id"].iloc[i]).run()
        row = _table(at).iloc[0]
        assert (row["row"], row["Class_invalid"], pd.isna(row["Class"])) == (i + 1, text, True)
    caption = next(c.value for c in at.caption if "scored rows match" in c.value)
    assert caption.startswith(f"1 of {ROWS:,} scored rows matches; all are shown")
    at.text_input(key="batch_search").input("no such id").run()
    assert any(f"0 of {ROWS:,} scored rows match: no row to show." == c.value for c in at.caption)
    # "unlabelled" is the empty Class alone, not the invalid ones
    at.text_input(key="batch_search").input("").run()
    at.segmented_control(key="batch_filter_label").set_value("unlabelled").run()
    assert _table(at)["row"].tolist() == [16]
