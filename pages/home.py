"""Home: the backends in use, whether they answer, and the live model."""

import pandas as pd
import streamlit as st

from app.ui import provenance_view, state
from app.ui.auth import exposed_without_sign_in
from app.ui.format import HEADLINE_METRICS, format_headline, format_time, weighted_caption
from core.audit import replay_spool, retry_failed, spool_status
from core.auth import Action
from core.bootstrap import ensure_demo_model
from core.config import find_old_home, old_home_message
from core.errors import WorkbenchError
from core.provenance import get_provenance
from core.schema import count_text, noun_for

st.title(":material/shield: Fraud Workbench")
st.caption("Score card transactions, see why they score high, compare and promote models.")

settings = state.settings()
actor = state.actor()
exposed = exposed_without_sign_in(settings, actor)
if exposed is not None:
    st.warning(exposed, icon=":material/public:")
old_home = find_old_home(settings)
if old_home is not None:
    st.warning(old_home_message(old_home, settings), icon=":material/folder_open:")

st.subheader("Backends")
statuses = state.backend_status(settings)
st.dataframe(
    pd.DataFrame(
        {
            "Backend": [s.name for s in statuses],
            "URL": [s.url for s in statuses],
            "Status": ["reachable" if s.ok else "unreachable" for s in statuses],
        }
    ),
    hide_index=True,
    width="stretch",
)
for s in statuses:
    if not s.ok:
        st.error(f"**{s.name}** is not reachable: {s.message}", icon=":material/error:")


def _spool_button(label: str, icon: str, action, done: str) -> None:  # type: ignore[no-untyped-def]
    """A button that runs one audit-spool action and says how many events it wrote;
    shown to those who may (core refuses anyone else anyway)."""
    if not actor.can(Action.MANAGE_AUDIT):
        st.caption("An ML lead can replay or retry these records.")
        return
    if st.button(label, icon=icon):
        try:
            written = action(settings, actor=actor)
            st.success(f"{done} {count_text(written, 'event')}.", icon=":material/check:")
        except WorkbenchError as exc:
            st.error(str(exc), icon=":material/error:")


spool = spool_status(settings)
if spool.waiting:
    st.warning(
        f"{count_text(len(spool.waiting), 'scoring event')} "
        f"{noun_for(len(spool.waiting), 'waits', 'wait')} in the local audit spool for the app "
        "database; they are written, in order, with the next score or now:",
        icon=":material/cloud_off:",
    )
    _spool_button("Replay the audit spool", ":material/sync:", replay_spool, "Replayed")
if spool.set_aside:
    st.error(
        f"{count_text(len(spool.set_aside), 'audit record')} "
        f"{noun_for(len(spool.set_aside), 'was', 'were')} refused by the app database and set "
        "aside (kept, not lost):",
        icon=":material/report:",
    )
    st.dataframe(
        pd.DataFrame(
            {
                "Event": [r.event_uid for r in spool.set_aside],
                "Rows": [r.rows for r in spool.set_aside],
                "Reason": [r.reason for r in spool.set_aside],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    _spool_button("Retry the set-aside records", ":material/replay:", retry_failed, "Wrote")
if spool.other_database:
    adopt = sorted(
        {
            "--untagged" if r.untagged else f"--from-database {r.database_key}"
            for r in spool.other_database
        }
    )
    st.info(
        f"{count_text(len(spool.other_database), 'spooled audit record')} "
        f"{noun_for(len(spool.other_database), 'belongs', 'belong')} to another app database "
        f"({', '.join(sorted({r.database for r in spool.other_database}))}); they are kept "
        "and written only there. If that database will not come back (or they name none), "
        "write them into this one from a terminal; it lists them first and writes with "
        "`--yes`:\n\n" + "\n".join(f"    workbench audit adopt {option}" for option in adopt),
        icon=":material/database:",
    )

st.subheader("Live model")
if not all(s.ok for s in statuses):
    st.warning("The live model cannot be shown until every backend answers.")
    st.stop()

try:
    live = state.live_version(settings)
except WorkbenchError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

if live is None:
    if not actor.can(Action.TRAIN):
        st.info(
            f"No version of **{settings.model_name}** carries the alias "
            f"**@{settings.live_alias}** yet. An ML lead can train one.",
            icon=":material/info:",
        )
        st.stop()
    st.info(
        f"No version of **{settings.model_name}** carries the alias "
        f"**@{settings.live_alias}** yet. Train a demo model on synthetic data, or run "
        "`workbench train --data your.csv`.",
        icon=":material/info:",
    )
    if st.button("Train demo model", icon=":material/model_training:", type="primary"):
        bar = st.progress(0.0, text="Starting")
        try:
            ensure_demo_model(
                settings, progress=lambda f, msg: bar.progress(f, text=msg), actor=actor
            )
        except WorkbenchError as exc:
            st.error(str(exc), icon=":material/error:")
        else:
            state.clear()
            st.rerun()
    st.stop()

st.markdown(
    f"**{live.name}** @ **{settings.live_alias}** → version **{live.version}** "
    f"({live.model_kind}), trained {format_time(live.created_at)}, "
    f"decision threshold {live.threshold_text}"
)
point, problem = provenance_view.load_live_point(settings, live)
# the test split's frauds are counted from the split itself when the version predates them
provenance_view.render_provenance(
    point.provenance if point else get_provenance(live, settings=settings)
)
columns = st.columns(len(HEADLINE_METRICS))
for column, (key, label) in zip(columns, HEADLINE_METRICS, strict=True):
    column.metric(label, format_headline(key, live.metrics.get(key)))
fraction = live.sampling_fraction
if fraction is not None and fraction < 1:
    columns = st.columns(len(HEADLINE_METRICS))
    for column, (key, label) in zip(columns, HEADLINE_METRICS, strict=True):
        value = live.metrics.get(f"weighted_{key}")
        column.metric(f"{label} (weighted)", format_headline(key, value))
st.caption(
    f"Test-split metrics of run `{live.run_id}`; AUPRC is the headline. Raw: counted on the "
    "test split as it is. " + weighted_caption(fraction)
)
provenance_view.render_live_counts(point, problem)

with st.expander("All versions", icon=":material/list:"):
    listed = state.versions(settings)
    provenances = [get_provenance(v, settings=settings) for v in listed]
    provenance_view.render_origin_notes(provenances)
    st.dataframe(
        pd.DataFrame(
            [
                provenance_view.home_version_record(v, p)
                for v, p in zip(listed, provenances, strict=True)
            ]
        ),
        hide_index=True,
        width="stretch",
        column_config=provenance_view.home_version_config(),
    )
