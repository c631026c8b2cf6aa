"""Monitoring: volume, alert rate, latency, traffic by version and the audit spool, from the
audit log over a chosen window, with alias moves marked on the time axis."""

import streamlit as st

from app.ui import monitoring_view as view
from app.ui import state

st.title(":material/speed: Monitoring")
settings = state.settings()
st.info(view.MISSING, icon=":material/construction:")
