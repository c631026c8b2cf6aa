"""First start: make demo data, train a model and alias it, unless a live model exists."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from core.auth import Action, Actor, require
from core.config import Settings
from core.data import generate_transactions
from core.errors import BackendError
from core.provenance import demo_data_path
from core.registry import get_alias_version

if TYPE_CHECKING:  # training (LightGBM, scikit-learn, matplotlib) is imported when it runs
    from core.training import TrainResult
    from core.training.train import Progress

log = logging.getLogger(__name__)

DEMO_SEED = 7


def ensure_demo_model(
    settings: Settings,
    *,
    rows: int | None = None,
    progress: Progress | None = None,
    actor: Actor,
) -> TrainResult | None:
    """Train and alias a demo model when the live alias is unset; otherwise do nothing.

    Args:
        settings: where to look for the live alias and where to train.
        rows: rows of synthetic data (default: ``settings.demo_rows``).
        progress: called with (fraction done, message).
        actor: who asks; training needs ``ml_lead`` (checked only when there is
            something to train, so an analyst's start-up check is not refused).

    Returns:
        The training result, or None when a live model already existed.

    Raises:
        PermissionDenied: the live alias is unset and the actor may not train.
        InputError: a bad row count.
        BackendError: a store cannot be reached, or the demo data cannot be written.
    """
    if get_alias_version(settings, settings.live_alias) is not None:
        return None
    require(actor, Action.TRAIN)
    rows = rows or settings.demo_rows
    path = demo_data_path(settings)
    if not path.exists():
        if progress:
            progress(0.0, f"Generating {rows:,} synthetic transactions")
        frame = generate_transactions(rows, seed=DEMO_SEED)
        partial = path.with_suffix(".partial")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(partial, index=False)
            partial.replace(path)  # a crash mid-write never leaves a truncated demo file
        except OSError as exc:
            raise BackendError(f"cannot write the demo data to {path}: {exc}") from exc
    from core.training import train_from_csv

    return train_from_csv(path, settings=settings, progress=progress, actor=actor, synthetic=True)
