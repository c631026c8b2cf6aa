"""Fraud Workbench: the Streamlit entry point. Run: streamlit run app/main.py"""

import streamlit as st

from app.ui.pages import build_pages

st.set_page_config(page_title="Fraud Workbench", page_icon=":material/shield:", layout="wide")
st.navigation(build_pages()).run()
