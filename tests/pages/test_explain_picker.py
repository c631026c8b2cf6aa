"""Explain's transaction pickers: the Score page's filterable test-split table, and rows
named by their transaction id where the data has one."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.ui import state
from app.ui.score_view import picker_table, transaction_name
from core.config import Settings, get_settings
from core.lifecycle import promote
from core.training import train_model
from tests.conftest import LEAD, REPO, Trained, settings_env


def _explain(app: AppTest) -> AppTest:
    app.run()
    return app.switch_page(str(REPO / "pages" / "explain.py")).run()


def _caption(at: AppTest) -> str:
    """The caption naming the picked test-split row (after the one naming the version)."""
    return next(c.value for c in at.caption if " of the test split (" in c.value)


def test_explain_picks_a_test_split_row_in_the_score_pages_table(
    app: AppTest, trained_embedded: Trained
) -> None:
    at = _explain(app)
    assert not at.exception and not at.error
    assert not at.get("number_input") or all(
        n.key != "explain_test_row" for n in at.number_input
    )  # the bare number input is gone
    picker = at.dataframe[0].value
    assert list(picker.columns[:3]) == ["row", "label", "fraud probability"]
    # before a click: the table's first row, the highest score
    first = int(picker["row"].iloc[0])
    assert _caption(at).startswith(f"Explaining row {first} of the test split (the table's")
    # the same filters as on Score, under Explain's own keys
    at.segmented_control(key="explain_pick_label").set_value("Legitimate").run()
    assert set(at.dataframe[0].value["label"]) == {"legitimate"}
    # AppTest cannot click a table row: seed the pick as the table's callback stores it
    clicked = int(at.dataframe[0].value["row"].iloc[-1])
    at.session_state[f"explain_picked_row_v{trained_embedded.result.version}"] = clicked
    at.run()
    assert not at.exception
    assert _caption(at).startswith(f"Explaining row {clicked} of the test split (clicked")
    assert "(clicked in the table): legitimate, fraud probability " in _caption(at)
    assert at.get("plotly_chart")  # its waterfall


def test_a_row_is_named_by_its_transaction_id_where_the_data_has_one() -> None:
    row = pd.Series({"row": 7, "transaction_id": "tx-0042", "Class": 1.0})
    assert transaction_name(row) == "transaction_id tx-0042"
    assert transaction_name(pd.Series({"row": 7, "Class": 1.0})) == "row 7"
    assert transaction_name(pd.Series({"row": 7, "txn_id": None})) == "row 7"  # no id: row


def test_the_picker_table_shows_the_transaction_id_beside_the_row() -> None:
    frame = pd.DataFrame(
        {
            "row": [1, 2],
            "txn_id": ["a-1", "b-2"],
            "Class": [0.0, 1.0],
            "fraud_probability": [0.0042, 0.5],
            "Amount": [12.5, 900.0],
            "Time": [10.0, 20.0],
        }
    )
    table = picker_table(frame)
    assert list(table.columns) == [
        "row",
        "txn_id",
        "label",
        "fraud probability",
        "Amount",
        "Time",
    ]
    assert table["txn_id"].tolist() == ["a-1", "b-2"]
    assert table["fraud probability"].tolist() == ["0.42%", "50.0%"]
    assert "txn_id" not in picker_table(frame.drop(columns="txn_id")).columns


def test_explain_names_batch_rows_by_their_transaction_id(
    app: AppTest, tiny_frame: pd.DataFrame
) -> None:
    frame = tiny_frame.head(40).copy()
    frame.insert(0, "transaction_id", [f"tx-{i:04d}" for i in range(40)])
    app.run()
    at = app.switch_page(str(REPO / "pages" / "batch.py")).run()
    at.file_uploader[0].set_value(("ids.csv", frame.to_csv(index=False).encode(), "text/csv"))
    at.run()
    at.switch_page(str(REPO / "pages" / "explain.py")).run()
    assert not at.exception
    options = at.selectbox(key="explain_batch_row").options
    assert len(options) == 40
    for option in options:
        name = option.split(" · ")[0]
        assert name.startswith("transaction_id tx-00"), option
    # each id is its row's: data row n (1-based) holds tx-(n-1)
    box = at.selectbox(key="explain_batch_row")
    assert box.options[box.index].startswith(f"transaction_id tx-{box.value - 1:04d} · ")


def test_the_scored_test_split_keeps_the_transaction_id_column() -> None:
    import numpy as np

    from app.ui.ranks import scored_frame
    from core.schema import FEATURES

    test = pd.DataFrame({name: [0.0, 1.0] for name in FEATURES})
    test["Class"] = [0, 1]
    test["note"] = ["x", "y"]  # another passthrough column: not shown
    test["transaction_id"] = ["tx-1", "tx-2"]
    scored = scored_frame(test, np.array([0.1, 0.9]))
    assert scored["row"].tolist() == [1, 2]
    assert scored["transaction_id"].tolist() == ["tx-1", "tx-2"]
    assert "note" not in scored
    assert scored["fraud_probability"].tolist() == [0.1, 0.9]
    assert "transaction_id" not in scored_frame(test.drop(columns="transaction_id"), np.zeros(2))


def test_a_row_picked_in_one_versions_split_is_not_kept_when_another_goes_live(
    tiny_frame: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
    workbench_env: pytest.MonkeyPatch,
) -> None:
    """Row numbers name other transactions in another version's test split: after the
    alias moves, Explain starts again from the new split's first row."""
    settings, first, second = _two_versions(tiny_frame, tmp_path_factory, workbench_env)
    at = _explain(AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=180))
    clicked = int(at.dataframe[0].value["row"].iloc[-1])
    at.session_state[f"explain_picked_row_v{first}"] = clicked  # a click, as the table stores it
    at.run()
    assert _caption(at).startswith(f"Explaining row {clicked} of the test split (clicked")
    _make_live(settings, second)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"Version {second}," in " ".join(c.value for c in at.caption)
    first_row = int(at.dataframe[0].value["row"].iloc[0])
    assert _caption(at).startswith(f"Explaining row {first_row} of the test split (the table's")


def test_a_batch_row_scored_by_a_version_no_longer_live_is_said(
    tiny_frame: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
    workbench_env: pytest.MonkeyPatch,
) -> None:
    settings, first, second = _two_versions(tiny_frame, tmp_path_factory, workbench_env)
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=180).run()
    at.switch_page(str(REPO / "pages" / "batch.py")).run()
    data = tiny_frame.head(50).to_csv(index=False).encode()
    at.file_uploader[0].set_value(("fifty.csv", data, "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(str(REPO / "pages" / "explain.py")).run()
    assert at.segmented_control(key="explain_source").value == "Last batch"
    assert not [w for w in at.warning if "was scored by version" in w.value]  # live: first
    _make_live(settings, second)
    at.run()
    said = [w.value for w in at.warning if "was scored by version" in w.value]
    assert said and said[0].startswith(f"This row was scored by version {first} (fraud")
    assert f"the live version {second} scores and explains it" in said[0]


def _two_versions(
    frame: pd.DataFrame, paths: pytest.TempPathFactory, env: pytest.MonkeyPatch
) -> tuple[Settings, int, int]:
    """A home of its own with two versions (the first live), which the app will use."""
    settings = Settings(home=paths.mktemp("two-versions") / "home")
    first, second = (
        train_model(
            frame, settings=settings, model_kind="logreg", data_sha256=d * 64, actor=LEAD
        ).version
        for d in ("a", "b")
    )
    for key, value in settings_env(settings).items():
        env.setenv(key, value)
    get_settings.cache_clear()
    return settings, first, second


def _make_live(settings: Settings, version: int) -> None:
    """Move the live alias, then forget the app's cached registry answers, as a move made
    on the Compare page does (else the pages see it within 10 s)."""
    lenient = settings.model_copy(update={"promote_auprc_tolerance": 1.0})
    promote(lenient, version=version, alias="champion", reason="the other one", actor=LEAD)
    state.clear()
