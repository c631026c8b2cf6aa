"""Score one transaction: a form, a pasted CSV row or JSON object, or a test-split row."""

import numpy as np
import streamlit as st

from app.ui import state
from app.ui.charts import plot_probability_gauge, plot_waterfall
from core.data import parse_record
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
    "Input", ["Form", "Paste a row", "From the test split"], default="Form", key="score_mode"
)
record: dict | None = None
if mode == "Form":
    with st.form("score_form"):
        st.caption("Defaults are the training medians. V1..V28 are anonymised PCA components.")
        columns = st.columns(5)
        values = {}
        for i, name in enumerate(FEATURES):
            with columns[i % 5]:
                values[name] = st.number_input(
                    name,
                    value=float(st.session_state.get(f"form_{name}", medians[name])),
                    min_value=0.0 if name in ("Time", "Amount") else None,
                    format="%.4f",
                    key=f"form_{name}",
                )
        if st.form_submit_button("Score", icon=":material/bolt:", type="primary"):
            record = values
elif mode == "Paste a row":
    text = st.text_area(
        "One CSV row (30 values in the order Time, V1..V28, Amount; a header line is optional) "
        "or a JSON object",
        key="score_paste",
        height=120,
        placeholder='{"Time": 406, "V1": -2.31, ..., "Amount": 0.0}',
    )
    if st.button("Score", icon=":material/bolt:", type="primary", key="score_paste_go"):
        try:
            record = parse_record(text)
        except WorkbenchError as exc:
            st.error(str(exc), icon=":material/error:")
elif mode == "From the test split":
    try:
        test = state.test_split(settings, info.run_id)
    except WorkbenchError as exc:
        st.error(f"The test split cannot be fetched: {exc}", icon=":material/error:")
        st.stop()
    st.caption(
        f"{len(test):,} rows the model was evaluated on ({int(test['Class'].sum())} frauds)."
    )
    frauds_only = st.toggle("Frauds only", key="score_pick_frauds")
    pool = test[test["Class"] == 1] if frauds_only else test
    position = st.number_input(
        "Row of the test split", 1, max(len(pool), 1), 1, key="score_pick_row"
    )
    picked = pool.iloc[int(position) - 1]
    st.dataframe(picked.to_frame().T, hide_index=True)
    if st.button("Score", icon=":material/bolt:", type="primary", key="score_pick_go"):
        record = {name: float(picked[name]) for name in FEATURES}

if record is not None:
    try:
        st.session_state["score_result"] = score_record(
            record, settings=settings, choice=choice, source_kind="ui", actor=state.actor()
        )
    except WorkbenchError as exc:
        st.error(str(exc), icon=":material/error:")

result = st.session_state.get("score_result")
if result is not None:
    st.divider()
    left, right = st.columns([2, 3])
    with left:
        st.plotly_chart(plot_probability_gauge(result.probability, threshold=result.threshold))
    with right:
        if result.decision:
            st.error(
                f"**Alert**: {result.probability:.4%} ≥ threshold {result.threshold:.4f}",
                icon=":material/warning:",
            )
        else:
            st.success(
                f"**No alert**: {result.probability:.4%} < threshold {result.threshold:.4f}",
                icon=":material/check_circle:",
            )
        st.markdown(f"Model: **{result.model_label}**")
        if result.reasons:
            st.markdown("**Top reasons toward fraud:** " + "; ".join(map(str, result.reasons)))
        if result.audit.spooled:
            st.warning(result.audit.message, icon=":material/cloud_off:")
        else:
            st.caption(f"Recorded in the audit log (event `{result.audit.event_uid}`).")
    st.subheader("Why this score")
    if result.contributions is None:  # a version trained elsewhere that shap cannot explain
        st.info(f"No reasons: {result.explanation_problem}", icon=":material/info:")
        st.stop()
    scale = result.contributions.scale
    st.plotly_chart(
        plot_waterfall(
            result.contributions.values[0],
            float(result.contributions.base[0]),
            np.array([result.features[name] for name in FEATURES]),
            names=list(FEATURES),
            scale=scale,
        )
    )
    st.caption(
        f"Contributions in {scale} (SHAP values); base value + contributions = the "
        "model's output. V1..V28 are anonymised PCA components: their names carry no "
        "business meaning. More on the Explain page."
    )
