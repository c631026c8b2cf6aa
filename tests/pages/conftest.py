"""Page tests run as one person on their own machine unless a test says otherwise."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO, Trained, settings_env


@pytest.fixture(autouse=True)
def server_address() -> Iterator[None]:
    """Pin ``server.address`` to loopback: Streamlit reads it from the working folder's
    ``.streamlit/config.toml``, and local mode gives ``ml_lead`` only on loopback."""
    before = config.get_option("server.address")
    config.set_option("server.address", "127.0.0.1")
    yield
    config.set_option("server.address", before)


@pytest.fixture
def app(trained_embedded: Trained, workbench_env: pytest.MonkeyPatch) -> AppTest:
    """The whole app (app/main.py) on the session's embedded home with its trained version."""
    for key, value in settings_env(trained_embedded.settings).items():
        workbench_env.setenv(key, value)
    return AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=120)
