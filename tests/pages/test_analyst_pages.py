"""Score and Explain as an analyst works in them (issue 13): a result stays with its
input, the test-split picker filters, what-if scores the edited row as core does."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.memory_media_file_storage import _calculate_file_id
from streamlit.testing.v1 import AppTest

from app.ui.explain_images import beeswarm_figure, to_png
from app.ui.format import format_probability
from core.artifacts import get_global_explanation, get_test_split
from core.registry import get_version, load_model
from core.schema import FEATURES
from core.scoring import score_features
from tests.conftest import LEAD, REPO, Trained

MAIN = str(REPO / "app" / "main.py")


@pytest.fixture(scope="module")
def test_split(trained_embedded: Trained) -> pd.DataFrame:
    """The version's test split as core stores it (not as the page shows it)."""
    return get_test_split(trained_embedded.settings, trained_embedded.result.run_id)


def _page(app: AppTest, name: str) -> AppTest:
    app.run()
    return app.switch_page(str(REPO / "pages" / name)).run()


def _result_shown(at: AppTest) -> bool:
    """A result is on screen: its decision box and the model line under it."""
    decisions = [e.value for e in at.error] + [s.value for s in at.success]
    return any("fraud probability" in d for d in decisions) or any(
        "Model: **" in m.value for m in at.markdown
    )


def test_a_stale_result_disappears_after_an_invalid_paste(
    app: AppTest, test_split: pd.DataFrame
) -> None:
    at = _page(app, "score.py")
    at.segmented_control(key="score_mode").set_value("Paste a row").run()
    at.text_area(key="score_paste").input(test_split[list(FEATURES)].head(1).to_csv(index=False))
    at.button(key="score_paste_go").click().run()
    assert not at.exception and _result_shown(at)
    assert at.get("plotly_chart")  # the gauge and the waterfall

    at.text_area(key="score_paste").input("1.0,2.0,abc")
    at.button(key="score_paste_go").click().run()
    assert not at.exception
    assert not _result_shown(at), "the previous transaction's result is still on screen"
    assert not at.get("plotly_chart")
    assert [e.value for e in at.error] == [
        "expected one CSV row of 30 values (Time, V1..V28, Amount) or a header line plus one "
        "row; got 1 line(s) with 3 value(s)"
    ]


def test_switching_input_mode_clears_the_result(app: AppTest) -> None:
    at = _page(app, "score.py")
    at.button[0].click().run()  # the form, at the training medians
    assert not at.exception and _result_shown(at)
    at.segmented_control(key="score_mode").set_value("Paste a row").run()
    assert not at.exception and not _result_shown(at) and not at.get("plotly_chart")
    at.segmented_control(key="score_mode").set_value("Form").run()
    assert not _result_shown(at), "coming back to the form does not bring the old result back"


def _picker_rows(at: AppTest) -> pd.DataFrame:
    return at.dataframe[0].value


def test_the_picker_filter_narrows_rows_and_a_picked_row_is_scored(
    app: AppTest, trained_embedded: Trained, test_split: pd.DataFrame
) -> None:
    at = _page(app, "score.py")
    at.segmented_control(key="score_mode").set_value("From the test split").run()
    assert not at.exception
    assert len(_picker_rows(at)) == len(test_split)

    at.segmented_control(key="score_pick_label").set_value("Fraud").run()
    shown = _picker_rows(at)
    frauds = np.flatnonzero(test_split["Class"].to_numpy() == 1) + 1  # 1-based positions
    assert sorted(shown["row"]) == frauds.tolist()
    assert set(shown["label"]) == {"fraud"}

    # the score range, against core's probabilities of the stored test split
    settings = trained_embedded.settings
    model = load_model(settings, get_version(settings, trained_embedded.result.version))
    probability, _ = score_features(
        model, test_split[list(FEATURES)].to_numpy(dtype=np.float64), threshold=0.5
    )
    at.segmented_control(key="score_pick_label").set_value("All").run()
    at.slider(key="score_pick_range").set_value((0.5, 1.0)).run()
    inside = np.flatnonzero((probability >= 0.5) & (probability <= 1.0)) + 1
    assert 0 < len(inside) < len(test_split)
    assert sorted(_picker_rows(at)["row"]) == inside.tolist()

    # AppTest cannot click a table row: seed the pick as the table's callback stores it
    # the row whose score is furthest from the first row's: picking the wrong one shows
    picked = int(inside[np.argmax(np.abs(probability[inside - 1] - probability[0]))])
    assert format_probability(probability[picked - 1]) != format_probability(probability[0])
    at.session_state[f"score_picked_row_v{trained_embedded.result.version}"] = picked
    at.run()
    at.button(key="score_pick_go").click().run()
    assert not at.exception and _result_shown(at)
    expected = format_probability(float(probability[picked - 1]))
    assert any(f"fraud probability {expected}," in e.value for e in [*at.error, *at.success])
    # the gauge says what the text says (it showed "0.00%" beside "0.0004%")
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    gauge = next(s for s in specs if s["data"][0]["type"] == "indicator")
    assert [a["text"] for a in gauge["layout"]["annotations"]] == [f"<b>{expected}</b>"]
    assert "number" not in gauge["data"][0]["mode"]


def _value_table(at: AppTest) -> pd.DataFrame:
    """Explain's table of the row's values (after the test-split picker's table)."""
    return next(d.value for d in at.dataframe if "feature" in d.value.columns)


def _waterfalls(at: AppTest) -> list[dict]:
    specs = [json.loads(c.proto.spec)["data"][0] for c in at.get("plotly_chart")]
    return [s for s in specs if s["type"] == "waterfall"]


def test_a_what_if_edit_changes_the_score(
    app: AppTest, trained_embedded: Trained, test_split: pd.DataFrame
) -> None:
    settings = trained_embedded.settings
    model = load_model(settings, get_version(settings, trained_embedded.result.version))
    x = test_split[list(FEATURES)].to_numpy(dtype=np.float64)
    fraud = int(np.flatnonzero(test_split["Class"].to_numpy() == 1)[0])
    edited = x[fraud].copy()
    edited[FEATURES.index("V14")] = 0.0  # a fraud row's V14 set to a typical value
    edited[FEATURES.index("Amount")] = 12.5
    before, _ = score_features(model, x[fraud][None, :], threshold=0.5)
    after, _ = score_features(model, edited[None, :], threshold=0.5)
    assert format_probability(after[0]) != format_probability(before[0])  # a visible change

    at = _page(app, "explain.py")
    at.session_state[f"explain_picked_row_v{trained_embedded.result.version}"] = (
        fraud + 1
    )  # a click in the picker's table
    at.run()
    assert len(_waterfalls(at)) == 1
    assert before[0] >= model.info.threshold  # an alert: it keeps the alert wording
    assert any(m.value.startswith("**Top reasons toward fraud:** ") for m in at.markdown)
    at.multiselect(key="whatif_features").select("V14").select("Amount").run()
    at.number_input(key="whatif_V14").set_value(0.0)
    at.number_input(key="whatif_Amount").set_value(12.5).run()
    assert not at.exception and not at.error

    text = " ".join(m.value for m in at.markdown)
    assert f"**What-if**: fraud probability **{format_probability(after[0])}**" in text
    assert f"**As recorded**: fraud probability **{format_probability(before[0])}**" in text
    original, what_if = _waterfalls(at)
    raw = model.raw_score(np.stack([x[fraud], edited]))
    # the what-if waterfall ends at the edited row's raw score, the original at the row's
    assert original["base"] + sum(original["x"]) == pytest.approx(raw[0], abs=1e-9)
    assert what_if["base"] + sum(what_if["x"]) == pytest.approx(raw[1], abs=1e-9)
    table = _value_table(at)
    assert table.set_index("feature").at["Amount", "what-if value"] == "12.50"


def test_explain_colours_by_another_feature_and_shows_all_30(
    app: AppTest, trained_embedded: Trained
) -> None:
    settings = trained_embedded.settings
    model = load_model(settings, get_version(settings, trained_embedded.result.version))
    explanation = get_global_explanation(settings, model, actor=LEAD)
    at = _page(app, "explain.py")
    table = _value_table(at)
    assert {"fraud median", "legitimate median"} <= set(table.columns)
    assert len(table) == len(FEATURES)
    colour = at.selectbox(key="explain_dep_color").value
    at.selectbox(key="explain_dep_feature").select(colour).run()
    assert not at.exception
    assert colour not in at.selectbox(key="explain_dep_color").options
    assert at.selectbox(key="explain_dep_color").value != colour

    def shown_features(at: AppTest) -> list[str]:
        """The importance bars' features, top first, after checking that the beeswarm image
        (the first; then the dependence plot's) is the one of the same features: Streamlit
        names an image by a hash of its bytes."""
        specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
        [bars] = [s["data"][0]["y"] for s in specs if s["data"][0]["type"] == "bar"]
        drawn = to_png(beeswarm_figure(explanation.features, explanation.contributions, bars))
        assert _calculate_file_id(drawn, "image/png") in at.image[0].value[0]
        return bars

    assert len(shown_features(at)) == 12
    at.toggle(key="explain_all_features").set_value(True).run()
    assert len(shown_features(at)) == 30

    # the dependence plot (an image: its axes are tested in test_explain_images.py)
    at.selectbox(key="explain_dep_feature").select("Amount").run()
    [caption] = at.image[-1].captions
    assert caption.startswith("Amount against its contribution")
    amount = at.image[-1].value
    at.selectbox(key="explain_dep_feature").select("V14").run()
    [caption] = at.image[-1].captions
    assert caption.startswith("V14 against its contribution")
    assert at.image[-1].value != amount  # another picture


def test_explain_says_which_version_and_data_the_views_come_from(
    app: AppTest, trained_embedded: Trained
) -> None:
    at = _page(app, "explain.py")
    caption = next(c.value for c in at.caption if c.value.startswith("Explaining"))
    # trained from the file tiny.csv, not flagged as generated: a real-data version
    assert f"version {trained_embedded.result.version}" in caption
    assert "trained on tiny.csv, real data" in caption
