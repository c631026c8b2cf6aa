"""``workbench serve-api``: the REST sidecar under uvicorn.

uvicorn gets the import string of the app factory (``api.app:create_app``), so ``cli``
never imports ``api``; with ``--workers N`` each worker process builds its own app.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli.common import EXIT_BACKEND, load_settings, print_error

APP_FACTORY = "api.app:create_app"


class LogLevel(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


def serve_api(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes, each with its own model and watcher.")
    ] = 1,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (the metrics and the audit log count them).")
    ] = False,
    log_level: Annotated[LogLevel, typer.Option(help="uvicorn's log level.")] = LogLevel.INFO,
) -> None:
    """Serve the REST API (docs at /docs) against the live alias; Ctrl-C stops it."""
    load_settings()  # a bad setting is one line here, not a traceback per worker
    chosen = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if chosen:  # the user's own folder: it must exist before the client is imported
        Path(chosen).mkdir(parents=True, exist_ok=True)
    elif workers > 1:
        # prometheus-client's multiprocess mode: the workers' samples go to files in one
        # folder that /metrics adds up. It must be set before any worker imports the client.
        folder = tempfile.mkdtemp(prefix="workbench-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    import uvicorn  # here: only this command needs it

    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=access_log,
            log_level=log_level.value,
        )
    except SystemExit as exc:  # uvicorn's way out after a port in use, a bad host...
        if exc.code in (0, None):
            raise
        print_error(f"the API server could not start on {host}:{port} (see uvicorn's message)")
        raise typer.Exit(EXIT_BACKEND) from None
