"""Alias history: where each alias points, who moved it, when and why; rollback for ML
leads. Moves made directly in MLflow are recorded here as external when the page reads."""

import pandas as pd
import streamlit as st

from app.ui import lifecycle_view, state
from app.ui.compare_charts import plot_history_timeline
from app.ui.format import escape_markdown, format_time
from core.auth import Action
from core.errors import WorkbenchError
from core.history import history_csv, last_move, list_alias_history, sync_alias_history

st.title(":material/history: Alias history")
settings, actor = state.settings(), state.actor()
lifecycle_view.show_done()
try:
    noticed = sync_alias_history(settings)
    rows = list_alias_history(settings)
except WorkbenchError as exc:
    st.error(f"The history cannot be read: {exc}", icon=":material/error:")
    st.stop()
if noticed:
    st.warning(
        f"{len(noticed)} alias move(s) made outside the workbench were found in MLflow and "
        "recorded as external (actor unknown).",
        icon=":material/warning:",
    )

st.subheader("Aliases now")
current = {}
for row in rows:  # newest first: the first confirmed move per alias is where it points
    if row.alias and row.kind != "threshold" and row.status == "confirmed":
        current.setdefault(row.alias, row)
if not current:
    st.info("No alias has moved yet.", icon=":material/info:")
for alias, row in sorted(current.items()):
    where = "unset" if row.to_version is None else f"version **{row.to_version}**"
    left, right = st.columns([4, 1])
    left.markdown(
        f"**@{escape_markdown(alias)}** -> {where}, since {format_time(row.time)} "
        f"({row.kind} by {escape_markdown(row.actor)})"
    )
    if actor.can(Action.MOVE_ALIAS) and right.button(
        "Roll back", key=f"rollback_{alias}", icon=":material/undo:"
    ):
        lifecycle_view.open_dialog(f"rollback:{alias}")
    if lifecycle_view.opened() == f"rollback:{alias}":
        try:
            last = last_move(settings, alias)
        except WorkbenchError as exc:
            st.error(str(exc), icon=":material/error:")
        else:
            if last is None:
                st.error(
                    f"@{alias} has no move in the history to roll back.", icon=":material/error:"
                )
            else:
                lifecycle_view.rollback_dialog(settings, actor, alias, last.from_version, last.id)

if rows:
    st.subheader("Timeline")
    lanes = [(r.alias and f"@{r.alias}") or "thresholds" for r in rows]
    texts = [
        f"v{r.to_version}: {r.old_threshold or 0:.3f} -> {r.threshold:.3f}"
        if r.kind == "threshold" and r.threshold is not None
        else f"v{r.from_version or '-'} -> v{r.to_version or '-'}"
        for r in rows
    ]
    st.plotly_chart(
        plot_history_timeline([r.time for r in rows], lanes, [r.kind for r in rows], texts),
        width="stretch",
    )
    table = pd.DataFrame.from_records([r.as_json() for r in rows]).drop(columns=["gates"])
    table["gates"] = [
        ", ".join(f"{g.name} {'passed' if g.passed else 'FAILED'}" for g in r.gates) for r in rows
    ]
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button(
        "Download the history (CSV)",
        history_csv(rows),
        file_name=f"{settings.model_name}-alias-history.csv",
        mime="text/csv",
        icon=":material/download:",
    )
