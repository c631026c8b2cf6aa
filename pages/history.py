"""Alias history: where each alias points, who moved it, when and why; rollback for ML
leads. Moves made directly in MLflow are recorded here as external when the page reads."""

import streamlit as st

from app.ui import lifecycle_view, state
from app.ui.compare_charts import plot_history_timeline
from app.ui.format import escape_markdown, format_time
from core.auth import Action
from core.errors import WorkbenchError
from core.history import history_csv, list_alias_history, sync_alias_history
from core.registry import format_threshold
from core.schema import count_text, noun_for

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
        f"{count_text(len(noticed), 'alias move')} made outside the workbench "
        f"{noun_for(len(noticed), 'was', 'were')} found in MLflow and "
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
    if row.from_version is None:  # it was unset before: nothing to go back to
        right.caption("no earlier version")
    elif actor.can(Action.MOVE_ALIAS) and right.button(
        "Roll back", key=f"rollback_{alias}", icon=":material/undo:"
    ):
        lifecycle_view.open_rollback(alias, row)
    lifecycle_view.render_rollback(settings, actor, alias)

if rows:
    st.subheader("Timeline")
    lanes = [(r.alias and f"@{r.alias}") or "thresholds" for r in rows]
    texts = [
        f"v{r.to_version}: "
        + ("none" if r.old_threshold is None else format_threshold(r.old_threshold))
        + f" -> {format_threshold(r.threshold)}"
        if r.kind == "threshold" and r.threshold is not None
        else " -> ".join("unset" if v is None else f"v{v}" for v in (r.from_version, r.to_version))
        for r in rows
    ]
    local = [r.time.astimezone() for r in rows]  # the zone the table's times are in
    st.plotly_chart(
        plot_history_timeline(
            [t.replace(tzinfo=None) for t in local], lanes, [r.kind for r in rows], texts
        ),
        width="stretch",
    )
    st.dataframe(lifecycle_view.history_table(rows), hide_index=True, width="stretch")
    st.download_button(
        "Download the history (CSV)",
        history_csv(rows),
        file_name=f"{settings.model_name}-alias-history.csv",
        mime="text/csv",
        icon=":material/download:",
    )
