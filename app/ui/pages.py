"""The page list: one place, used by app/main.py and by the tests that visit every page."""

from pathlib import Path

import streamlit as st

PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"

PAGE_SPECS: list[tuple[str, str, str]] = [
    # (file in pages/, title, material icon)
    ("home.py", "Home", ":material/home:"),
    ("score.py", "Score a transaction", ":material/person_search:"),
    ("batch.py", "Batch scoring", ":material/table_view:"),
    ("explain.py", "Explain", ":material/insights:"),
]


def build_pages() -> list[st.Page]:
    """st.Page objects must be made inside a script run, so this is called per run."""
    return [
        st.Page(PAGES_DIR / name, title=title, icon=icon, default=(i == 0))
        for i, (name, title, icon) in enumerate(PAGE_SPECS)
    ]
