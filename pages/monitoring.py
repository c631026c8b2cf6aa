"""Monitoring: volume, alert rate, latency, traffic by version and the audit spool, from the
audit log over a chosen window, with alias moves marked on the time axis."""

import streamlit as st

from app.ui import drift_view, state
from app.ui import monitoring_view as view
from app.ui.compare_view import safe
from core.drift import latest_event_id

st.title(":material/speed: Monitoring")
settings = state.settings()

left, middle, right = st.columns([2, 3, 2])
start, end, _label = drift_view.pick_window(left, middle)
bucket = right.radio("Per", ["hour", "day"], index=1, horizontal=True)

newest = safe(latest_event_id, settings)
result = safe(view.summary, settings, start, end, bucket, newest)
if result is not None:
    view.render_summary(result)
