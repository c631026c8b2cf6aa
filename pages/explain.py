"""Explain: why one transaction scored as it did, and what drives the live model overall."""

import numpy as np
import pandas as pd
import streamlit as st

from app.ui import state
from app.ui.batch_view import batch_picker_rows, last_batch, load_batch_row, take_row_to_explain
from app.ui.charts import plot_beeswarm, plot_dependence, plot_importance, plot_waterfall
from core.auth import Action
from core.errors import ExplanationUnavailableError, NotFoundError, WorkbenchError
from core.explain import compute_reasons
from core.registry import read_threshold
from core.schema import FEATURES
from core.scoring import PROBABILITY

st.title(":material/insights: Explain")
st.info(
    "V1..V28 are anonymised PCA components of the original card data: their names carry no "
    "business meaning. Time and Amount are as recorded. Contributions are exact SHAP values "
    "in log-odds: base value + contributions = the model's raw score.",
    icon=":material/info:",
)
settings = state.settings()
actor = state.actor()
try:
    choice = state.live_model(settings)
    info = choice.model.info
    try:
        reference = state.reference(settings, info.run_id)
    except NotFoundError:
        if not info.trained_elsewhere:
            raise
        reference = None  # it has no training statistics
except WorkbenchError as exc:
    st.error(f"No live model to explain: {exc}", icon=":material/error:")
    st.stop()
st.caption(f"Explaining **{choice.label}**.")
ELSEWHERE = (
    "This version was trained elsewhere: it has no test split. Explain a row of the last "
    "batch or the last scored transaction."
)
if choice.model.explanation_problem:  # a version trained elsewhere that shap cannot explain
    st.info(f"{choice.label}: {choice.model.explanation_problem}", icon=":material/info:")
    st.stop()

sources = ["Row of the test split"]
batch = last_batch()
if batch is not None and batch.result.rows_scored:
    sources.insert(0, "Last batch")
    asked = take_row_to_explain()  # a row clicked in the batch table
    if asked is not None:
        st.session_state["explain_source"] = "Last batch"
        st.session_state["explain_batch_row"] = asked
if st.session_state.get("score_result") is not None:
    sources.append("Last scored transaction")
source = st.segmented_control("Transaction", sources, default=sources[0], key="explain_source")

row: pd.Series | None = None
if source == "Last batch":
    picker = batch_picker_rows(batch, include=st.session_state.get("explain_batch_row"))
    numbers = picker["row"].tolist()  # highest score first
    picked = st.selectbox(
        f"Row of {batch.name} (highest score first)",
        numbers,
        key="explain_batch_row",
        format_func=lambda n: f"row {n}",
    )
    row = load_batch_row(batch, picked)
elif source == "Row of the test split":
    try:
        test = state.test_split(settings, info.run_id)
    except WorkbenchError as exc:
        if not (isinstance(exc, NotFoundError) and info.trained_elsewhere):
            st.error(f"The test split cannot be fetched: {exc}", icon=":material/error:")
            st.stop()
        st.info(ELSEWHERE, icon=":material/info:")
        st.stop()
    number = st.number_input(f"Row (1-{len(test):,})", 1, len(test), 1, key="explain_test_row")
    row = test.iloc[int(number) - 1]
elif source == "Last scored transaction":
    row = pd.Series(st.session_state["score_result"].features)

if row is not None:
    x = row[list(FEATURES)].to_numpy(dtype=np.float64)[None, :]
    try:
        contributions = choice.model.contributions(x)
    except ExplanationUnavailableError as exc:
        st.info(str(exc), icon=":material/info:")
        st.stop()
    probability = float(choice.model.predict_proba(x)[0])
    reasons = compute_reasons(contributions, x)[0]
    try:
        threshold = read_threshold(settings, info)  # fresh: the tag may have changed
        verdict = f"{'alert' if probability >= threshold else 'no alert'} at {threshold:.4f}"
    except WorkbenchError as exc:
        verdict = "no decision"
        st.warning(str(exc), icon=":material/warning:")
    st.markdown(
        f"Fraud probability **{probability:.4%}** ({verdict})"
        + (
            f"; label in data: **{int(row['Class'])}**"
            if "Class" in row and pd.notna(row["Class"])
            else ""
        )
    )
    if reasons:
        st.markdown("**Top reasons toward fraud:** " + "; ".join(map(str, reasons)))
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(
            plot_waterfall(
                contributions.values[0],
                float(contributions.base[0]),
                x[0],
                names=list(FEATURES),
                scale=contributions.scale,
            )
        )
    with right:
        columns = {
            "feature": list(FEATURES),
            "value": x[0],
            "contribution": contributions.values[0],
        }
        if reference is not None:
            medians = reference.features
            columns["fraud median"] = [medians[n].median_fraud for n in FEATURES]
            columns["legitimate median"] = [medians[n].median_legit for n in FEATURES]
        table = pd.DataFrame(columns).sort_values("contribution", key=np.abs, ascending=False)
        st.dataframe(
            table,
            hide_index=True,
            height=430,
            column_config={"contribution": st.column_config.NumberColumn(format="%+.3f")},
        )
    if PROBABILITY in row and abs(float(row[PROBABILITY]) - probability) > 1e-9:
        st.warning("This row was scored by another version than the live one.")

st.divider()
st.subheader("The live model overall")
try:
    explanation = state.global_explanation(
        settings, info.version, actor.can(Action.STORE_ARTIFACTS), actor
    )
except WorkbenchError as exc:
    if isinstance(exc, NotFoundError) and info.trained_elsewhere:
        st.info("No global view: a version trained elsewhere has no test split to explain.")
    else:
        st.error(f"Global explanation unavailable: {exc}", icon=":material/error:")
    st.stop()
importance = explanation.importance()
st.caption(
    f"On {len(explanation.features):,} rows of the version's test split (all its frauds kept)."
)
left, right = st.columns(2)
with left:
    st.markdown("**Importance** (mean |contribution|)")
    st.plotly_chart(plot_importance(importance))
with right:
    st.markdown("**Contributions per row**")
    st.plotly_chart(
        plot_beeswarm(explanation.features, explanation.contributions, list(importance.index[:12]))
    )
st.markdown("**Dependence**")
a, b = st.columns(2)
ranked = list(importance.index)
feature = a.selectbox("Feature", ranked, index=0, key="explain_dep_feature")
color_by = b.selectbox("Coloured by", ranked, index=1, key="explain_dep_color")
st.plotly_chart(plot_dependence(explanation.features, explanation.contributions, feature, color_by))
