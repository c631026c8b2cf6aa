"""The live model a long-running server scores with, and the watcher that keeps it current.

A server cannot ask the registry on every request (a registry call costs more than the
prediction). Instead a :class:`LiveModelWatcher` looks at the live alias and its version's
threshold every ``settings.api_reload_interval`` seconds. When either has moved, the new
version is loaded and warmed first (one prediction, one explanation), then swapped in with
one assignment. A request reads :attr:`LiveModelWatcher.current` once and uses that
:class:`LiveModel` to its end: requests in flight finish on the model they started with,
and every response can name the version that scored it.

If the alias moves to a version that cannot be served (no valid threshold, a model that
will not load, the registry unreachable), the watcher keeps serving what it has and says
why in :attr:`LiveModelWatcher.problem`; it tries again at the next look.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from core.config import Settings
from core.drift import ReferenceSketch
from core.errors import ExplanationUnavailableError, WorkbenchError
from core.registry import (
    LoadedModel,
    ModelVersionInfo,
    get_version,
    get_version_by_alias,
    load_model,
)
from core.schema import FEATURES
from core.scoring.base import ModelChoice, score_features
from core.scoring.batch import get_drift_sketch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveModel:
    """One version, reached through the live alias, with the threshold in force.

    Attributes:
        choice: the loaded model and the alias it was reached through.
        threshold: the version's decision threshold when it was loaded (the watcher swaps
            in a new :class:`LiveModel` when the tag changes).
        info: the version, with its test metrics.
        loaded_at: when this model and threshold went live in this process.
        sketch: the version's drift reference, to count scored rows on (None: none).
    """

    choice: ModelChoice
    threshold: float
    info: ModelVersionInfo
    loaded_at: datetime
    sketch: ReferenceSketch | None

    @property
    def model(self) -> LoadedModel:
        return self.choice.model

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def version(self) -> int:
        return self.info.version

    @property
    def alias(self) -> str | None:
        return self.choice.alias

    def score(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities and 0/1 decisions for a (rows, 30) float64 array in schema order."""
        return score_features(self.choice.model, features, threshold=self.threshold)


def warm_model(model: LoadedModel) -> None:
    """Run one prediction (and one explanation, where the version has them) so the first
    request after a swap does not pay for lazy set-up inside the model library."""
    row = np.zeros((1, len(FEATURES)))
    model.predict_proba(row)
    if model.explanation_problem is None:
        with contextlib.suppress(ExplanationUnavailableError):
            model.contributions(row)


def load_live_model(
    settings: Settings, info: ModelVersionInfo, *, alias: str, threshold: float
) -> LiveModel:
    """Load, warm and describe one version for serving.

    Args:
        settings: the stores.
        info: the version (from an alias lookup).
        alias: the alias it was reached through.
        threshold: the threshold in force.

    Raises:
        NotFoundError: the version is gone.
        RefusedError: its model cannot be loaded safely.
        BackendError: the registry or the artifacts cannot be reached.
    """
    described = get_version(settings, info.version, with_metrics=True)
    choice = ModelChoice(load_model(settings, described), alias)
    warm_model(choice.model)
    return LiveModel(
        choice=choice,
        threshold=threshold,
        info=described,
        loaded_at=datetime.now(UTC),
        sketch=get_drift_sketch(settings, choice),
    )


SwapHook = Callable[[LiveModel | None, LiveModel], None]
RETRY_AFTER = 60.0
"""Seconds before a version that failed to load is tried again (POST /v1/reload: at once)."""


class LiveModelWatcher:
    """Keeps :attr:`current` on the version the live alias points at, with its threshold.

    Args:
        settings: the stores, the live alias and the poll interval
            (``settings.api_reload_interval``).
        on_swap: called after each swap with the old (None at first) and the new model.
    """

    def __init__(self, settings: Settings, *, on_swap: SwapHook | None = None) -> None:
        self.settings = settings
        self.alias = settings.live_alias
        self.current: LiveModel | None = None
        self.problem: str | None = "loading it for the first time"
        self.checked_at: datetime | None = None
        self._on_swap = on_swap
        self._lock = threading.Lock()  # one look at a time: the thread and /reload
        self._failed: dict[tuple[int, float | None], float] = {}  # target -> when it failed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self, *, force: bool = False) -> bool:
        """Look at the alias and the threshold now; load, warm and swap if either moved.

        Never raises: the model in use stays, and :attr:`problem` says why the new one is
        not served. A version that failed to load is tried again after ``RETRY_AFTER``
        seconds (not at every look: it may be a large download), or now when ``force``.

        Returns:
            Whether a new model (or threshold) went live.
        """
        with self._lock:
            self.checked_at = datetime.now(UTC)
            current = self.current
            where = f"{self.settings.model_name}@{self.alias}"
            keeping = f"; still serving version {current.version}" if current else ""
            try:
                info = get_version_by_alias(self.settings, self.alias, with_metrics=False)
            except WorkbenchError as exc:
                self.problem = f"cannot read {where}: {exc}{keeping}"
                log.warning("%s", self.problem)
                return False
            target = (info.version, info.threshold)
            if current and (current.version, current.threshold) == target:
                self.problem = None
                return False
            if info.threshold is None:
                self.problem = (
                    f"{where} is version {info.version}, which has no valid threshold "
                    f"({info.threshold_problem}){keeping}"
                )
                log.warning("%s", self.problem)
                return False
            failed_at = self._failed.get(target)
            if not force and failed_at is not None and time.monotonic() - failed_at < RETRY_AFTER:
                return False  # the problem from that failure still stands
            try:
                new = load_live_model(
                    self.settings, info, alias=self.alias, threshold=info.threshold
                )
            except Exception as exc:  # any failure to load or warm: keep serving the old one
                self._failed[target] = time.monotonic()
                detail = str(exc) if isinstance(exc, WorkbenchError) else repr(exc)
                self.problem = f"cannot load {where} (version {info.version}): {detail}{keeping}"
                log.warning("%s", self.problem, exc_info=not isinstance(exc, WorkbenchError))
                return False
            self._failed.pop(target, None)
            self.current = new  # the swap: one reference assignment
            self.problem = None
            if self._on_swap is not None:  # under the lock: swaps are reported in order
                self._on_swap(current, new)
        log.info(
            "live model: %s version %s, threshold %s (was %s)",
            new.name,
            new.version,
            new.threshold,
            f"version {current.version}, threshold {current.threshold}" if current else "none",
        )
        return True

    def start(self) -> None:
        """Look now and then every ``api_reload_interval`` seconds, on a daemon thread (the
        first look may be a download: the caller goes on, and :attr:`current` stays None
        until it is done)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="live-model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        interval = self.settings.api_reload_interval
        next_look = time.monotonic()  # the first look at once
        while not self._stop.wait(max(0.0, next_look - time.monotonic())):
            next_look = time.monotonic() + interval
            try:
                self.check()
            except Exception:  # the watcher must outlive anything a look can raise
                log.exception("the live-model watcher's look failed")
