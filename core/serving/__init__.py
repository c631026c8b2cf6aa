"""Serving: what a long-running server (the REST sidecar) needs around core's scoring.

- ``live``: the live model, and the watcher that swaps in a new one when the live alias or
  its threshold moves (:class:`LiveModelWatcher`);
- ``recorder``: predictions written to the audit log in the background, one event per flush,
  version and actor (:class:`AuditRecorder`).
"""

from core.serving.live import LiveModel, LiveModelWatcher, load_live_model, warm_model
from core.serving.recorder import AuditRecorder, ScoredRequest

__all__ = [
    "AuditRecorder",
    "LiveModel",
    "LiveModelWatcher",
    "ScoredRequest",
    "load_live_model",
    "warm_model",
]
