"""Monitoring: volume, alert rate, latency, traffic by version and the audit spool, from the
audit log over a chosen window, with alias moves marked on the time axis."""

from datetime import date, timedelta

import streamlit as st

from app.ui import drift_view, state
from app.ui import monitoring_view as view
from app.ui.compare_view import safe
from core.drift import latest_event_id

st.title(":material/speed: Monitoring")
settings = state.settings()

left, middle, right = st.columns([2, 3, 2])
choice = left.selectbox(
    "Window",
    [*drift_view.WINDOWS, "range"],
    index=1,
    format_func=lambda c: drift_view.WINDOW_NAMES.get(c, "Date range"),
)
dates = ()
if choice == "range":
    week = (date.today() - timedelta(days=7), date.today())
    dates = middle.date_input("From and to (UTC days)", value=week) or ()
bucket = right.radio("Per", ["hour", "day"], index=1, horizontal=True)
start, end, label = drift_view.window_bounds(choice, tuple(dates))

newest = safe(latest_event_id, settings)
result = safe(view.summary, settings, start, end, bucket, newest)
if result is not None:
    view.render_summary(result)
