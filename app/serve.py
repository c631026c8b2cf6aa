"""Fraud Workbench's server: Streamlit's ASGI app (``st.App``) over ``app/main.py``.

Run: ``streamlit run app/serve.py`` (what ``make run`` and the image do). It serves the
same pages as ``streamlit run app/main.py``, with two things more:

- **A warm start.** Before the server answers anyone (``/_stcore/health`` included), it
  imports what Home's run needs, opens the backends (MLflow's SQL stores, SQLAlchemy and
  Alembic's check: about 1.6 s that the first page paid before) and reads what Home shows,
  then loads the live model and the other pages' modules (``app.ui.state.prewarm``); it
  waits for all that at most :data:`WARM_TIMEOUT` seconds, then answers while the rest
  finishes in the background. Nothing in it is needed for correctness: a backend that is
  down, or no live model yet, is logged and left for the pages to report, and the server
  starts all the same.
- **Streamed batch downloads** (``app/ui/downloads.py``): the batch page links its CSV and
  Parquet downloads to a route that sends them from disk, instead of Streamlit holding
  them in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import streamlit as st
from streamlit import config

from app.ui import downloads

log = logging.getLogger("workbench.serve")

HOME_MODULES = (
    "mlflow",
    "app.ui.auth",
    "app.ui.format",
    "app.ui.pages",
    "app.ui.provenance_view",
    "app.ui.state",
    "core.audit",
    "core.bootstrap",
    "core.provenance",
    "core.status",
)
"""What app/main.py and Home import: imported before the server answers."""
WARM_TIMEOUT = 60.0
"""Seconds the server waits for the warm start before it answers anyway."""
BASE_PATH = str(config.get_option("server.baseUrlPath") or "")


def warm_start() -> None:
    """Import and read what the first page needs, then load the rest for a while (see the
    module's docstring). Never raises."""
    started = time.perf_counter()
    # Home's cached reads run here outside any page: nothing to warn about
    context_log = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = context_log.level
    context_log.setLevel(logging.ERROR)
    try:
        for name in HOME_MODULES:
            importlib.import_module(name)
        from app.ui import provenance_view, state
        from core.config import get_settings
        from core.errors import NotFoundError
        from core.provenance import get_provenance
        from core.registry import get_version_by_alias, list_versions
        from core.status import check_backends

        settings = get_settings()
        if all(status.ok for status in check_backends(settings)):
            for info in list_versions(settings):
                get_provenance(info, settings=settings)
            # no live version yet: Home offers to train the demo model
            with contextlib.suppress(NotFoundError):
                provenance_view.load_live_point(settings, get_version_by_alias(settings))
        state.prewarm(settings, delay=0).join()
    except Exception as exc:  # a misconfiguration, a store down: the pages say so
        log.warning("warm start stopped early (the pages will report it): %s", exc)
    finally:
        context_log.setLevel(level)
    log.info("warm start: %.1f s", time.perf_counter() - started)


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    # all of it in one thread, waited for at most WARM_TIMEOUT: a slow store (reading the
    # test split, downloading the model) delays health by that much at most, then the
    # server answers while the thread finishes
    warming = threading.Thread(target=warm_start, name="warm start", daemon=True)
    warming.start()
    await asyncio.to_thread(warming.join, WARM_TIMEOUT)
    downloads.enable(BASE_PATH)
    yield


# the entry by its absolute path, whatever the working folder (`uvicorn app.serve:app`
# included); Streamlit still reads .streamlit/config.toml from the working folder: start it
# from the repository's root, as `make run` and the image do
app = st.App(
    Path(__file__).with_name("main.py"), lifespan=lifespan, routes=[downloads.route(BASE_PATH)]
)
