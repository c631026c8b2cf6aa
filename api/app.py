"""The FastAPI app of the REST sidecar.

``create_app`` is the factory uvicorn calls (``workbench serve-api`` passes the import
string ``api.app:create_app``), once per worker. Each worker loads the keys, starts its own
live-model watcher, audit recorder and key refresh in the app's lifespan, and stops them
(flushing the audit records) when the server shuts down.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.legacy import build_legacy_router
from api.metrics import ServingMiddleware
from api.routes import build_router
from api.runtime import Runtime
from core.config import Settings, get_settings

DESCRIPTION = """
Score card transactions against the live model (the registered model's live alias),
with API keys, Prometheus metrics and an audit log of every prediction. The model is
swapped without a restart when the alias or its threshold moves.

Send a key from `workbench api-key create NAME` as `Authorization: Bearer <key>`.
`/health`, `/ready` and `/metrics` need none.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The sidecar app for ``settings`` (default: the process settings, from the environment).

    Raises:
        ConfigError: a setting is invalid.
    """
    settings = settings or get_settings()
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = FastAPI(
        title="Fraud Workbench API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.include_router(build_router(runtime))
    app.include_router(build_legacy_router(runtime))
    install_error_handlers(app)
    app.add_middleware(ServingMiddleware, max_body_bytes=settings.api_max_body_bytes)
    return app
