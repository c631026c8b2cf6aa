"""Explain: why one transaction scored as it did, what-if, and what drives the live model."""

import pandas as pd
import streamlit as st

from app.ui import explain_view as view
from app.ui import ranks, state
from app.ui.charts import TOP_FEATURES, plot_importance
from app.ui.format import format_probability
from core.auth import Action
from core.errors import ExplanationUnavailableError, NotFoundError, WorkbenchError
from core.registry import read_threshold
from core.schema import count_text
from core.scoring import MODEL_VERSION, PROBABILITY

st.title(":material/insights: Explain")
st.info(
    "V1..V28 are anonymised PCA components of the original card data: their names carry no "
    "business meaning. Time and Amount are as recorded. Contributions are exact SHAP values "
    "in log-odds: base value + contributions = the log-odds of the fraud probability shown "
    "(for a version calibrated by isotonic regression, the uncalibrated model's log-odds; "
    "the chart's total bar says which).",
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
data = view.data_caption(settings, info)
st.caption(f"Explaining **{choice.label}**, {data}.")
if choice.model.explanation_problem:  # a version trained elsewhere that shap cannot explain
    st.info(f"{choice.label}: {choice.model.explanation_problem}", icon=":material/info:")
    st.stop()

batch = view.last_batch()
view.take_open_request(batch)
sources = ([view.LAST_BATCH] if batch else []) + ["Row of the test split"]
if st.session_state.get("score_result") is not None:
    sources.append("Last scored transaction")
source = st.segmented_control(
    "Transaction", sources, default=sources[0], required=True, key=view.SOURCE
)

row: pd.Series | None = None
if source == view.LAST_BATCH and batch is not None:
    row = view.pick_batch_row(batch)
    row_id = ("batch", str(batch.files.folder), int(row["row"]))  # this upload, not its name
elif source == "Last scored transaction":
    row = pd.Series(st.session_state["score_result"].features)
    row_id = ("scored", st.session_state.get("score_result_input"))
else:
    try:
        row = view.pick_test_row(ranks.scored_test_split(settings, info.version), info.version)
        row_id = None if row is None else ("test", info.version, int(row["row"]))
    except WorkbenchError as exc:
        if not (isinstance(exc, NotFoundError) and info.trained_elsewhere):
            st.error(f"The test split cannot be fetched: {exc}", icon=":material/error:")
        else:
            st.info(
                "This version was trained elsewhere: it has no test split. Explain a row of "
                "the last batch or the last scored transaction.",
                icon=":material/info:",
            )

if row is not None:
    try:
        threshold = read_threshold(settings, info)  # fresh: the tag may have changed
    except WorkbenchError as exc:
        threshold = None
        st.warning(str(exc), icon=":material/warning:")
    scored_by = row.get(MODEL_VERSION)
    if scored_by is not None and not pd.isna(scored_by) and int(scored_by) != info.version:
        # said before the row's numbers, which are the live version's
        st.warning(
            f"This row was scored by version {int(scored_by)} (fraud probability "
            f"{format_probability(float(row[PROBABILITY]))} when the batch was scored); "
            f"below, the live version {info.version} scores and explains it.",
            icon=":material/warning:",
        )
    try:
        explained = view.show_row(
            row,
            row_id=row_id,
            model=choice.model,
            threshold=threshold,
            reference=reference,
            rank_of=view.rank_function(settings, info.version),
        )
    except ExplanationUnavailableError as exc:
        st.info(str(exc), icon=":material/info:")
        st.stop()

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
    f"Version {info.version}, on {count_text(len(explanation.features), 'row')} of its test "
    f"split (all its frauds kept), not on the transaction above; {data}."
)
everything = st.toggle(f"All {len(importance)} features", key="explain_all_features")
shown = list(importance.index if everything else importance.index[:TOP_FEATURES])
left, right = st.columns(2)  # the same features in both
with left:
    st.markdown("**Importance** (mean |contribution|)")
    st.plotly_chart(plot_importance(importance, top=len(shown)))
with right:
    st.markdown("**Contributions per row**")
    st.image(
        view.beeswarm_image(settings, info.version, explanation, tuple(shown)),
        caption=f"The same {len(shown)} features, top first; each dot a row, coloured by "
        "its value of the feature (blue low, red high).",
        width="stretch",
    )
st.markdown("**Dependence**")
a, b = st.columns(2)
ranked = list(importance.index)
feature = a.selectbox("Feature", ranked, index=0, key="explain_dep_feature")
others = [name for name in ranked if name != feature]  # a feature is not coloured by itself
color_by = b.selectbox("Coloured by", others, index=0, key="explain_dep_color")
if not explanation.contributions[feature].any():
    st.info(
        f"This version does not use {feature}: its contribution is 0 for every row.",
        icon=":material/info:",
    )
st.image(
    view.dependence_image(settings, info.version, explanation, feature, color_by),
    caption=f"{feature} against its contribution, each dot a row, coloured by {color_by}.",
    width="stretch",
)
