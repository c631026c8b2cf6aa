"""The pyfunc flavour of a version the workbench logs: the workbench's own probabilities.

``mlflow.pyfunc.load_model(uri).predict(frame)`` and ``mlflow models serve`` use a model's
``python_function`` flavour. The native flavours' own (``mlflow.lightgbm``,
``mlflow.sklearn``) call the bare estimator: they skip the version's feature step (how the
model sees ``Time``) and its calibration, so they answer other probabilities than the
workbench for the same version (and a scikit-learn model answers labels). A version logged
through :func:`log_native_model` keeps its native flavour (what ``core.models.loading``
reads) and gets a ``python_function`` flavour whose loader is this module: it loads the
version with ``core.models.load_adapter`` (the same safe loaders, the same MLmodel metadata)
and predicts :meth:`ModelAdapter.predict_proba`, the probabilities the workbench scores
with. So the serving environment needs this project installed (``--env-manager local`` in
the workbench's environment, or its Docker image).

Versions logged before this flavour keep MLflow's loader, unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from mlflow import pyfunc
from mlflow.models import Model
from mlflow.models.model import MLMODEL_FILE_NAME, ModelInfo

from core.models.base import ModelAdapter
from core.models.loading import load_adapter
from core.schema import FEATURES

LOADER_MODULE = __name__
"""The ``loader_module`` of the ``python_function`` flavour the workbench writes."""


class WorkbenchPyfunc:
    """What ``mlflow.pyfunc`` wraps: one version's adapter, predicting probabilities."""

    def __init__(self, adapter: ModelAdapter) -> None:
        self.adapter = adapter

    def get_raw_model(self) -> ModelAdapter:
        return self.adapter

    def predict(self, model_input: Any, params: dict[str, Any] | None = None) -> np.ndarray:
        """Fraud probability per row, on the version's probability scale.

        Args:
            model_input: a frame (or anything ``pandas.DataFrame`` takes) with the 30
                feature columns; other columns are ignored.
            params: accepted for the pyfunc interface; none are used.
        """
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        features = frame.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
        return self.adapter.predict_proba(features)


def _load_pyfunc(path: str) -> WorkbenchPyfunc:
    """Called by ``mlflow.pyfunc.load_model`` with the model's folder."""
    from core.models import ADAPTERS  # here: core.models imports the kinds, which import us

    return WorkbenchPyfunc(load_adapter(Path(path), ADAPTERS))


class _WithWorkbenchPyfunc:
    """A flavour for ``Model.log``: the native flavour's folder, with the ``python_function``
    flavour pointed at this module (written before the folder is uploaded)."""

    def __init__(self, native: ModuleType) -> None:
        self.native = native
        self.__name__ = native.__name__

    def save_model(self, *, path: str, mlflow_model: Model, **options: Any) -> None:
        self.native.save_model(path=path, mlflow_model=mlflow_model, **options)
        conf = mlflow_model.flavors[pyfunc.FLAVOR_NAME]
        conf[pyfunc.MAIN] = LOADER_MODULE
        conf.pop(pyfunc.DATA, None)  # the loader takes the whole folder, MLmodel included
        conf.pop("predict_fn", None)  # scikit-learn's: which estimator method to call
        mlflow_model.save(os.path.join(path, MLMODEL_FILE_NAME))


def log_native_model(native: ModuleType, **options: Any) -> ModelInfo:
    """Log a model to the active run with its native flavour (``mlflow.lightgbm``,
    ``mlflow.sklearn``) and the workbench's ``python_function`` flavour.

    Args:
        native: the native flavour's module.
        options: what the flavour's ``log_model`` takes, the model by its keyword
            (``lgb_model=``, ``sk_model=``), ``name``, ``metadata`` and the rest.

    Returns:
        MLflow's description of the logged model.
    """
    return Model.log(artifact_path=None, flavor=_WithWorkbenchPyfunc(native), **options)
