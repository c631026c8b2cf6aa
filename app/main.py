"""Fraud Workbench: the Streamlit entry point. Run: streamlit run app/main.py"""

import streamlit as st

from app.ui.auth import render_sidebar
from app.ui.pages import build_pages
from app.ui.state import actor, settings

st.set_page_config(page_title="Fraud Workbench", page_icon=":material/shield:", layout="wide")
who = actor()  # signs people in first where the mode needs it
render_sidebar(who, settings())
st.navigation(build_pages(who)).run()
