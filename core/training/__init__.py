"""Training: split by time, fit LightGBM or a LogReg baseline, evaluate, log and register.

The names below load ``core.training.train`` (LightGBM, scikit-learn, matplotlib) on first
use, not when a light submodule such as ``core.training.provenance`` is imported: the
Compare page needs provenance and no training (bench/README.md, "First page render").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.training.train import MODEL_KINDS, TrainResult, train_from_csv, train_model

__all__ = ["MODEL_KINDS", "TrainResult", "train_from_csv", "train_model"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from core.training import train

        return getattr(train, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
