"""Page tests run as one person on their own machine unless a test says otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit import config


@pytest.fixture(autouse=True)
def server_address() -> Iterator[None]:
    """Pin ``server.address`` to loopback: Streamlit reads it from the working folder's
    ``.streamlit/config.toml``, and local mode gives ``ml_lead`` only on loopback."""
    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield
    config.set_option("server.address", before)
