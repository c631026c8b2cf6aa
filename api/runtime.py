"""What one API worker keeps running: the live model and its watcher, the audit recorder,
and the API keys with the thread that refreshes them."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time

from prometheus_client import multiprocess

from api import metrics
from core.apikeys import ApiKeyCache
from core.audit import AuditReceipt, pending_spool
from core.config import Settings
from core.errors import BackendError, WorkbenchError
from core.serving import AuditRecorder, LiveModel, LiveModelWatcher

log = logging.getLogger(__name__)


class NotReady(BackendError):
    """No live model yet (503, like any store that cannot serve); the message says why."""


class Runtime:
    """One worker's long-lived state, started and stopped by the app's lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = ApiKeyCache(settings)
        self.watcher = LiveModelWatcher(settings, on_swap=self._swapped)
        self.recorder = AuditRecorder(settings, on_stored=self._stored)
        self.database_problem: str | None = "not checked yet"
        self._stop = threading.Event()
        self._keys_thread: threading.Thread | None = None

    @property
    def live(self) -> LiveModel | None:
        return self.watcher.current

    def require_live(self) -> LiveModel:
        """The live model, read once per request.

        Raises:
            NotReady: none is loaded yet (the message says why).
        """
        live = self.watcher.current
        if live is None:
            raise NotReady(f"no live model is loaded: {self.watcher.problem}")
        return live

    def start(self) -> None:
        """Load the keys now; look for the live model and refresh keys in the background."""
        # The imports left about a million long-lived objects (MLflow, pandas, SciPy): move
        # them out of the collector's sight, or every full collection walks them all, a
        # pause of tens of milliseconds in the middle of some request.
        gc.freeze()
        self.settings.apply_to_environment()
        metrics.MODEL_VERSION.set(0)
        self.refresh_keys()
        self.watcher.start()
        self.recorder.start()
        self._stop.clear()
        self._keys_thread = threading.Thread(
            target=self._refresh_loop, name="api-keys", daemon=True
        )
        self._keys_thread.start()

    def stop(self) -> None:
        """Write every prediction still waiting for the audit log first (a container's
        grace period may be short), then stop the other threads."""
        self._stop.set()
        try:
            self.recorder.stop()
        finally:
            if self._keys_thread is not None:
                self._keys_thread.join(timeout=10)
            self.watcher.stop()
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
                # this worker's live gauges leave /metrics with it (a restarted worker
                # would otherwise leave its old samples behind)
                multiprocess.mark_process_dead(os.getpid())

    @property
    def ready_problem(self) -> str | None:
        """Why this worker cannot score yet, or None when it can: a model is loaded and the
        API keys were read at least once (without them no request can be let in)."""
        if self.watcher.current is None:
            return f"no live model is loaded: {self.watcher.problem}"
        if self.keys.loaded_at is None:
            return f"the API keys have not been read: {self.database_problem}"
        return None

    def refresh_keys(self) -> None:
        """Reload the API keys; the database's state is what this refresh found."""
        try:
            self.keys.refresh()
        except WorkbenchError as exc:
            if self.database_problem != str(exc):
                log.warning("API keys not refreshed (the last ones stay in use): %s", exc)
            self.database_problem = str(exc)
        else:
            self.database_problem = None

    def spool_pending(self) -> int:
        try:
            return pending_spool(self.settings)
        except OSError:
            return 0

    def _refresh_loop(self) -> None:
        interval = self.settings.api_key_refresh
        next_refresh = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_refresh - time.monotonic())):
            next_refresh = time.monotonic() + interval
            try:
                self.refresh_keys()
            except Exception:  # the loop must outlive anything a refresh raises
                log.exception("the API key refresh failed")

    def _swapped(self, old: LiveModel | None, new: LiveModel) -> None:
        metrics.MODEL_VERSION.set(new.version)
        if old is not None:
            metrics.RELOADS.inc()
        else:  # the first model is in: freeze what loading it made too (one pause, now)
            gc.collect()
            gc.freeze()

    def _stored(self, receipt: AuditReceipt, rows: int) -> None:
        if receipt.spooled:
            metrics.AUDIT_SPOOLED.inc(rows)
        else:
            metrics.AUDIT_STORED.inc(rows)
