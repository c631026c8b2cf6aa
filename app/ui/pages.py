"""The page list: one place, used by app/main.py and by the tests that visit every page."""

from pathlib import Path
from urllib.parse import urlsplit

import streamlit as st

from core.auth import Action, Actor

PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"

PAGE_SPECS: list[tuple[str, str, str, Action]] = [
    # (file in pages/, title, material icon, what the page needs)
    ("home.py", "Home", ":material/home:", Action.VIEW),
    ("score.py", "Score a transaction", ":material/person_search:", Action.SCORE),
    ("batch.py", "Batch scoring", ":material/table_view:", Action.SCORE),
    ("explain.py", "Explain", ":material/insights:", Action.EXPLAIN),
    ("compare.py", "Compare versions", ":material/compare_arrows:", Action.VIEW),
    ("history.py", "Alias history", ":material/history:", Action.VIEW),
    ("drift.py", "Drift", ":material/monitoring:", Action.RUN_DRIFT),
    ("monitoring.py", "Monitoring", ":material/speed:", Action.VIEW),
    ("train.py", "Train a model", ":material/model_training:", Action.TRAIN),
]


def build_pages(actor: Actor) -> list[st.Page]:
    """The pages ``actor`` may use. st.Page objects must be made inside a script run, so
    this is called per run. A page left out is not served to that session at all."""
    return [
        st.Page(PAGES_DIR / name, title=title, icon=icon, default=(i == 0))
        for i, (name, title, icon, needs) in enumerate(PAGE_SPECS)
        if actor.can(needs)
    ]


def refused_page(actor: Actor, url: str | None) -> str | None:
    """The title of the page ``url`` asks for when ``actor`` may not use it, else None.

    A page left out is not served, so Streamlit shows the default page instead; this lets
    that page say why rather than silently showing Home.
    """
    if not url:
        return None
    asked = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    for name, title, _icon, needs in PAGE_SPECS:
        if Path(name).stem == asked and not actor.can(needs):
            return title
    return None
