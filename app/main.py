"""Fraud Workbench: the Streamlit entry point. Run: streamlit run app/main.py"""

import streamlit as st

from app.ui.auth import render_sidebar
from app.ui.pages import build_pages, refused_page
from app.ui.state import actor, prewarm, settings
from app.ui.upload_memory import share_upload_bytes

share_upload_bytes()  # an upload is held once in memory, not twice (app/ui/upload_memory.py)

st.set_page_config(page_title="Fraud Workbench", page_icon=":material/shield:", layout="wide")
who = actor()  # signs people in first where the mode needs it
render_sidebar(who, settings())
refused = refused_page(who, st.context.url)
if refused is not None and not st.session_state.get("refusal_shown"):
    st.session_state["refusal_shown"] = True  # once: the address may not change after
    st.warning(
        f"**{refused}** is for ML leads; you are signed in as {who.role.value}. "
        "Here is Home instead.",
        icon=":material/lock:",
    )
st.navigation(build_pages(who)).run()
prewarm(settings())  # after the page: the first render does not share the CPU with it
