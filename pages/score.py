"""Score one transaction: a form, a pasted CSV row or JSON object, or a test-split row."""

import streamlit as st

from app.ui import ranks, score_view, state
from core.errors import NotFoundError, WorkbenchError
from core.schema import FEATURES
from core.scoring import score_record

st.title(":material/person_search: Score a transaction")
settings = state.settings()
try:
    choice = state.live_model(settings)
    info = choice.model.info
    try:
        medians = state.reference(settings, info.run_id).medians()
    except NotFoundError:
        if not info.trained_elsewhere:
            raise
        medians = dict.fromkeys(FEATURES, 0.0)  # it has no training statistics
except WorkbenchError as exc:
    st.error(f"No live model to score with: {exc}", icon=":material/error:")
    # st.stop, not an early end: a stopped run keeps the values of the widgets it did not
    # draw, so what the user typed is still there when the store answers again.
    st.stop()
st.caption(f"Scoring with **{choice.label}**, alert at probability ≥ {info.threshold_text}.")

mode = st.segmented_control(
    "Input",
    ["Form", "Paste a row", "From the test split"],
    default="Form",
    required=True,
    key="score_mode",
)
if mode == "Paste a row":
    record, input_key = score_view.paste_input()
elif mode == "From the test split":
    try:
        scored = ranks.scored_test_split(settings, info.version)
    except WorkbenchError as exc:
        score_view.forget_stale_result(None)
        if isinstance(exc, NotFoundError) and info.trained_elsewhere:
            st.info(
                "This version was trained elsewhere: it has no test split. Use the form or "
                "paste a row.",
                icon=":material/info:",
            )
        else:
            st.error(f"The test split cannot be fetched: {exc}", icon=":material/error:")
        st.stop()
    record, input_key = score_view.test_split_input(scored, info.version)
else:
    record, input_key = score_view.form_input(medians)
# A result belongs to the input it came from: another mode, other text or another row
# drops it before anything is drawn.
score_view.forget_stale_result(input_key)

if record is not None:
    try:
        result = score_record(
            record, settings=settings, choice=choice, source_kind="ui", actor=state.actor()
        )
        score_view.keep_result(result, input_key)
    except WorkbenchError as exc:
        st.error(str(exc), icon=":material/error:")

result = st.session_state.get(score_view.RESULT)
if result is not None:
    rank = ranks.rank_text(settings, result.model_version, result.probability)
    score_view.show_result(result, rank=rank)
