"""The audit log of a server: predictions batched off the request path.

A request only appends its rows to a list (:meth:`AuditRecorder.record`, microseconds). A
background thread takes the list every ``settings.api_audit_flush`` seconds and writes one
scoring event per model version and actor (an API key's name) with its rows, its drift
counts and a histogram of the requests' latencies, through :func:`core.audit.log_scoring`:
so the audit log's guarantees hold here too (chunked writes, the spool while the database
is down, set-aside records for content it refuses).

What is not yet flushed lives in memory: a process killed outright (SIGKILL, power loss)
loses at most the last ``api_audit_flush`` seconds of predictions; a normal stop flushes
(:meth:`AuditRecorder.stop`). Records that cannot even be spooled stay queued (bounded) and
are tried again at the next flush.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from core.audit import AuditReceipt, log_scoring, make_predictions_table
from core.config import Settings
from core.latency import compute_latency_histogram
from core.scoring.base import SourceKind, event_header
from core.scoring.batch import count_drift
from core.serving.live import LiveModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoredRequest:
    """One request's scored rows, as the audit log will hold them."""

    live: LiveModel
    actor: str
    features: np.ndarray  # (rows, 30) float64
    probability: np.ndarray
    decision: np.ndarray
    transaction_ids: Sequence[str | None]
    reasons: Sequence[str | None] | None  # reason-code JSON per row, where explained
    latency_ms: float
    at: datetime


MAX_PENDING_ROWS = 1_000_000
"""Rows kept in memory while they can be neither written nor spooled (about 0.3 GB)."""

StoredHook = Callable[[AuditReceipt, int], None]
"""Called after each event is written (or spooled) with its receipt and its row count."""


class AuditRecorder:
    """Collects scored requests and writes them as scoring events in the background.

    Args:
        settings: the app database, the home (for the spool) and the flush interval.
        source: the events' source (``api``).
        input_name: what the events record as their input.
        on_stored: called after each event is stored or spooled.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        source: SourceKind = "api",
        input_name: str = "REST API",
        on_stored: StoredHook | None = None,
    ) -> None:
        self.settings = settings
        self.source: SourceKind = source
        self.input_name = input_name
        self._on_stored = on_stored
        self._pending: list[ScoredRequest] = []
        self.problem: str | None = None  # why the last flush kept records back, if it did
        self.dropped = 0  # rows dropped past MAX_PENDING_ROWS (never otherwise)
        self._pending_lock = threading.Lock()
        self._flush_lock = threading.Lock()  # one flush at a time keeps the log in order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def record(
        self,
        live: LiveModel,
        *,
        actor: str,
        features: np.ndarray,
        probability: np.ndarray,
        decision: np.ndarray,
        transaction_ids: Sequence[str | None],
        reasons: Sequence[str | None] | None = None,
        latency_ms: float,
    ) -> None:
        """Queue one request's rows for the next flush (cheap: no I/O, no hashing)."""
        request = ScoredRequest(
            live=live,
            actor=actor,
            features=features,
            probability=probability,
            decision=decision,
            transaction_ids=transaction_ids,
            reasons=reasons,
            latency_ms=latency_ms,
            at=datetime.now(UTC),
        )
        with self._pending_lock:
            self._pending.append(request)

    @property
    def pending(self) -> int:
        """Requests waiting for the next flush."""
        return len(self._pending)

    def flush(self) -> list[AuditReceipt]:
        """Write what has been recorded: one event per model version, threshold and actor.

        A group that cannot be written even to the spool (a full disk, an unwritable home)
        goes back to the front of the queue for the next flush, and :attr:`problem` says
        why; beyond ``MAX_PENDING_ROWS`` rows waiting, the oldest are dropped and counted
        in :attr:`dropped` (logged), so memory stays bounded.

        Returns:
            One receipt per event written (or spooled, or set aside).
        """
        with self._flush_lock:
            with self._pending_lock:
                taken, self._pending = self._pending, []
            groups: dict[tuple[int, str], list[ScoredRequest]] = {}
            for request in taken:
                groups.setdefault((id(request.live), request.actor), []).append(request)
            receipts, failed = [], []
            for requests in groups.values():
                try:
                    receipt = self._write(requests)
                except Exception as exc:  # kept for the next flush, never lost silently
                    log.exception("audit records could not be written or spooled; kept")
                    self.problem = f"audit records cannot be written or spooled: {exc}"
                    failed += requests
                    continue
                receipts.append(receipt)
                if self._on_stored is not None:
                    self._on_stored(receipt, sum(len(r.probability) for r in requests))
            if failed:
                self._requeue(failed)
            elif groups:
                self.problem = None
            return receipts

    def _requeue(self, failed: list[ScoredRequest]) -> None:
        with self._pending_lock:
            pending = failed + self._pending
            rows = sum(len(r.probability) for r in pending)
            while rows > MAX_PENDING_ROWS and pending:
                oldest = pending.pop(0)
                rows -= len(oldest.probability)
                self.dropped += len(oldest.probability)
                log.error(
                    "dropped %d audit record(s) of %s: %d rows already wait to be written",
                    len(oldest.probability),
                    oldest.at.isoformat(),
                    MAX_PENDING_ROWS,
                )
            self._pending = pending

    def _write(self, requests: list[ScoredRequest]) -> AuditReceipt:
        live = requests[0].live
        features = np.concatenate([r.features for r in requests])
        probability = np.concatenate([r.probability for r in requests])
        decision = np.concatenate([r.decision for r in requests])
        ids = [i for r in requests for i in r.transaction_ids]
        reasons = (
            [x for r in requests for x in (r.reasons or [None] * len(r.probability))]
            if any(r.reasons is not None for r in requests)
            else None
        )
        counted = count_drift(live.sketch, features, probability) if live.sketch else None
        latency = compute_latency_histogram(np.array([r.latency_ms for r in requests]))
        header = event_header(
            live.choice,
            self.source,
            requests[0].actor,
            f"{self.input_name}, {len(requests):,} request(s)",
            threshold=live.threshold,
        )
        event = replace(
            header,
            rows_in=len(probability),
            rows_scored=len(probability),
            alerts=int(decision.sum()),
            drift_counts=counted.to_json() if counted is not None else None,
            latency_ms=latency.to_json(),
            created_at=requests[0].at,
        )
        table = make_predictions_table(
            row_number=None,
            transaction_id=np.array(ids, dtype=object),
            features=features,
            probability=probability,
            decision=decision,
            reasons=reasons,
        )
        return log_scoring(self.settings, event, table)

    def start(self) -> None:
        """Flush every ``api_audit_flush`` seconds on a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="api-audit", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write everything still pending."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        self.flush()
        if self._pending:
            rows = sum(len(r.probability) for r in self._pending)
            log.error("%d audit record(s) could not be written or spooled: lost", rows)

    def _run(self) -> None:
        interval = self.settings.api_audit_flush
        next_flush = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_flush - time.monotonic())):
            next_flush = time.monotonic() + interval
            try:
                self.flush()
            except Exception:  # flush() keeps what it could not write; the thread goes on
                log.exception("the audit flush failed")
