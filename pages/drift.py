"""Drift: is the live model still seeing the world it was trained on, and what does that do
to the alert queue? Current data is a window of production traffic or an uploaded CSV."""

import streamlit as st

from app.ui import drift_view as view
from app.ui import state
from app.ui.compare_view import safe, upload_digest
from core.drift import latest_event_id
from core.schema import count_text

st.title(":material/monitoring: Drift")
settings = state.settings()
live = safe(view.live_version, settings)  # None: no live alias, or the registry is down

source = st.radio(
    "Current data",
    ["window", "file"],
    format_func={"window": "Production traffic", "file": "An uploaded CSV"}.get,
    horizontal=True,
)
if source == "window":
    start, end, label = view.pick_window(*st.columns([2, 3]))
    newest = safe(latest_event_id, settings)  # keys the caches: new traffic shows at once
    reports = safe(view.window_reports, settings, start, end, newest)
    if reports is None:
        st.stop()
    if not reports:
        st.info(
            f"No scoring events with drift counts for **{settings.model_name}** in the "
            f"{label}: score some transactions, or choose a longer window.",
            icon=":material/info:",
        )
        st.stop()
    if len(reports) > 1:
        st.info(
            f"{count_text(len(reports), 'version')} scored in the {label} (an alias move, or "
            "scoring with a chosen version): each is judged against its own reference, the "
            "live one first.",
            icon=":material/swap_horiz:",
        )
    reports = sorted(reports, key=lambda r: (r.version != live, -r.version))
    for report in reports:
        with st.container(border=True):
            if report.version == live:
                st.caption(f"Version {report.version} is live (@{settings.live_alias}).")
            view.render_report(report, key=f"window_v{report.version}")
    st.subheader("PSI over time")
    safe(
        view.render_heatmap,
        settings,
        start,
        end,
        [r.version for r in reports],
        newest=newest,
        key="heat",
    )
else:
    upload = st.file_uploader(
        "Transactions CSV (the schema's 30 features; Class optional)", type=["csv", "txt"]
    )
    if upload is None:
        st.caption("The file is checked against the live version's reference.")
        st.stop()
    data = upload.getvalue()
    report = safe(view.file_report, settings, upload_digest(data), data, upload.name)
    if report is not None:
        view.render_report(report, key="file")
