"""Model kinds: one adapter class per kind, chosen once from the logged artifact."""

from core.models.base import (
    METADATA_CALIBRATION,
    METADATA_KIND,
    METADATA_PROBABILITY_SCALE,
    METADATA_TIME_FEATURE,
    ModelAdapter,
)
from core.models.external import SklearnModel
from core.models.lgbm import LightGBMModel
from core.models.loading import SKOPS_TRUSTED_TYPES, load_adapter
from core.models.logreg import LogRegModel

ADAPTERS: dict[str, type[ModelAdapter]] = {
    adapter.kind: adapter for adapter in (LightGBMModel, LogRegModel, SklearnModel)
}
"""Every known kind by name; a new kind is one new ModelAdapter subclass added here. Order
matters within a flavour: a scikit-learn model is our LogReg pipeline before it is the generic
``sklearn`` kind (versions trained elsewhere)."""

MODEL_KINDS: tuple[str, ...] = tuple(ADAPTERS)

__all__ = [
    "ADAPTERS",
    "METADATA_CALIBRATION",
    "METADATA_KIND",
    "METADATA_PROBABILITY_SCALE",
    "METADATA_TIME_FEATURE",
    "MODEL_KINDS",
    "SKOPS_TRUSTED_TYPES",
    "LightGBMModel",
    "LogRegModel",
    "ModelAdapter",
    "SklearnModel",
    "load_adapter",
]
