"""Compare versions: the versions table, then two or more versions on the same evaluation
rows (raw and at the natural prevalence), and, for ML leads, promote and set thresholds."""

import streamlit as st

from app.ui import compare_view as view
from app.ui import lifecycle_view, provenance_view, state
from app.ui.calibration_view import render_calibration
from core.auth import Action
from core.compare import check_sampling_fraction

st.title(":material/compare_arrows: Compare versions")
settings, actor = state.settings(), state.actor()

rows = view.safe(view.version_rows, settings)
if rows is None:
    st.stop()
if not rows:
    st.info(
        f"**{settings.model_name}** has no versions yet: train one first.", icon=":material/info:"
    )
    st.stop()

aliases = sorted({a for r in rows for a in r.aliases})
left, right = st.columns(2)
alias_filter = left.selectbox(
    "Alias", ["", *aliases], format_func=lambda a: (a and f"@{a}") or "any"
)
tag_filter = right.text_input(
    "Tag", placeholder="key or key=value", help="Only versions with this tag"
)
table = view.versions_table(rows, alias=alias_filter, tag=tag_filter.strip())
provenance_view.render_origin_notes([r.provenance for r in rows if r.provenance is not None])
st.dataframe(table, hide_index=True, width="stretch", column_config=view.table_config())
st.caption(
    "Metrics are each version's own test split, as stored at training: precision, recall and "
    "F1 at the threshold it was trained with, which may differ from its threshold now "
    "(weighted: at the natural prevalence). The data columns say which rows those are: "
    "a synthetic version's AUPRC is not comparable with a real sample's. To compare "
    "versions on the **same** rows, at their thresholds now, choose them below."
)

live = next((r.version for r in rows if settings.live_alias in r.aliases), None)
numbers = [r.version for r in rows]
default = [v for v in dict.fromkeys([live, max(numbers)]) if v is not None]
# keyed: a promote (the live version, so the default, changes) keeps what the lead chose
chosen = st.multiselect("Versions to compare", numbers, default=default, key="compare_versions")

source = st.radio(
    "Evaluation data",
    ["split", "file"],
    format_func={"split": "The live version's test split", "file": "A labelled CSV"}.get,
    horizontal=True,
    disabled=not chosen,
)
evaluation, key = None, ""
if source == "split":
    evaluation = view.safe(view.split_evaluation, settings, None)
    key = f"split:{live}"
else:
    upload = st.file_uploader("Labelled transactions CSV (with Class)", type=["csv", "txt"])
    fraction = st.number_input(
        "Sampling fraction of legitimate rows",
        min_value=0.0,
        max_value=1.0,
        value=1.0,
        format="%.6f",
        help="The share of legitimate rows the file keeps (1 = all); e.g. 4920 / 284315 for "
        "the ULB sample. Metrics and alert counts are also shown weighted to the natural "
        "prevalence.",
    )
    if upload is not None and view.safe(check_sampling_fraction, fraction) is not None:
        data = upload.getvalue()
        key = f"file:{view.upload_digest(data)}:{fraction}"
        evaluation = view.safe(view.file_evaluation, settings, key, data, upload.name, fraction)

result = None
if evaluation is not None and chosen:
    result = view.render_comparison(settings, evaluation, key, chosen, live=live)
if chosen:
    infos = {info.version: info for info in state.versions(settings)}
    with st.expander("Calibration: Brier and reliability, before and after", expanded=False):
        for number in (n for n in chosen if n in infos):
            st.markdown(f"##### Version {number}")
            render_calibration(settings, infos[number])

if actor.can(Action.MOVE_ALIAS):
    lifecycle_view.render_lead_actions(
        settings,
        actor,
        versions=numbers,
        result=result,
        evaluation=evaluation,
        aliases=aliases,
        live=live,
        evaluation_note=None
        if source == "split" or evaluation is not None
        else "No usable labelled CSV is chosen above: the gates will judge the versions on "
        "a test split (that of the version the alias points at, else the candidate's), not "
        "on your file.",
    )
else:
    st.caption("An ML lead can promote a version or change a threshold here.")
