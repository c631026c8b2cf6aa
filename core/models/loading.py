"""Load a logged model safely from its local folder and pick its adapter from the artifact.

Safety: LightGBM models load from LightGBM's own text file. scikit-learn models load through
``skops.io.loads`` only after every type their file names has been checked against our own
lists (``core.models.trust``), never the list the artifact carries (which MLflow's own
loader passes on), nor skops's defaults (which trust every scikit-learn estimator). Pickle
and cloudpickle files are refused, never opened. ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false``
(set by ``core.tracking``) is the second line of defence for any MLflow loader.

The kind comes from the artifact: the MLmodel ``metadata`` written at log time, checked
against the loaded estimator's class. Versions without that metadata (logged before it
existed, or trained elsewhere) are recognised by their flavour, then by the loaded
estimator's class alone: our LogReg pipeline is ``logreg``, any other binary scikit-learn
classifier the generic ``sklearn`` kind (``core.models.external``). Every version's
signature is checked against the schema first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.models import Model

from core.errors import BackendError, RefusedError
from core.models.base import METADATA_KIND, ModelAdapter
from core.models.signature import check_signature
from core.models.trees import check_trees
from core.models.trust import SKOPS_TRUSTED_TYPES, check_skops_file, untrusted_hint

log = logging.getLogger(__name__)

RELOG_HINT = (
    "re-log it safely: retrain with `workbench train`, or log the estimator with "
    "mlflow.sklearn.log_model(..., serialization_format='skops') and register that"
)


def _load_booster(model_dir: Path, conf: Mapping[str, Any]) -> Any:
    model_class = conf.get("model_class", "lightgbm.basic.Booster")
    if model_class != "lightgbm.basic.Booster":
        raise RefusedError(
            f"the LightGBM model is a serialised {model_class}, not a native Booster file; "
            "log the Booster (model.booster_) with mlflow.lightgbm.log_model"
        )
    import lightgbm as lgb  # here: a page that loads no model does not pay for it

    try:
        return lgb.Booster(model_file=str(model_dir / conf["data"]))
    except (lgb.basic.LightGBMError, KeyError, OSError) as exc:
        raise BackendError(f"the LightGBM model file cannot be read: {exc}") from exc


def _load_skops(model_dir: Path, conf: Mapping[str, Any]) -> Any:
    serialization = conf.get("serialization_format", "pickle")
    if serialization != "skops":
        raise RefusedError(
            f"the scikit-learn model is saved with {serialization}, which can run any code "
            f"when loaded, so it is not loaded; {RELOG_HINT}"
        )
    # Imported here: skops imports every scikit-learn estimator to build its default trust
    # list (about a second), which only loading a scikit-learn version needs.
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        data = (model_dir / conf["pickled_model"]).read_bytes()
    except (KeyError, OSError) as exc:
        raise BackendError(f"the scikit-learn model file cannot be read: {exc}") from exc
    check_skops_file(data)  # our lists alone decide, before skops builds anything
    try:
        estimator = skops.io.loads(data, trusted=SKOPS_TRUSTED_TYPES)
    except UntrustedTypesFoundException as exc:  # unreachable after the check; kept closed
        raise RefusedError(
            f"the scikit-learn model holds types not trusted here: {exc}; {untrusted_hint()}"
        ) from exc
    except (KeyError, OSError, TypeError, ValueError) as exc:
        raise BackendError(f"the scikit-learn model file cannot be read: {exc}") from exc
    check_trees(estimator)  # trusting the tree types is safe only with sound node arrays
    return estimator


LOADERS: dict[str, Callable[[Path, Mapping[str, Any]], Any]] = {
    "lightgbm": _load_booster,
    "sklearn": _load_skops,
}
"""Safe native loader per MLflow flavour, in order of preference."""


def load_adapter(model_dir: Path, adapters: Mapping[str, type[ModelAdapter]]) -> ModelAdapter:
    """Load the model in a downloaded MLflow model folder and wrap it in its kind's adapter.

    Args:
        model_dir: a local folder holding ``MLmodel`` and the model file.
        adapters: the known kinds (``core.models.ADAPTERS``).

    Returns:
        The adapter around the loaded native model.

    Raises:
        RefusedError: the model cannot be loaded safely (pickle, untrusted types) or is of
            no known kind.
        InputError: the model does not take our transactions (its signature or its fitted
            columns: missing, extra or non-numeric columns).
        BackendError: the folder or the model file cannot be read.
    """
    try:
        mlmodel = Model.load(model_dir / "MLmodel")
    except (MlflowException, OSError, ValueError) as exc:
        raise BackendError(f"the MLmodel file cannot be read: {exc}") from exc
    flavors: dict[str, Any] = mlmodel.flavors or {}
    metadata = mlmodel.metadata or {}
    if not isinstance(metadata, Mapping):  # written by hand outside the workbench
        raise RefusedError(f"the MLmodel metadata is a {type(metadata).__name__}, not a mapping")
    kind = metadata.get(METADATA_KIND)
    if kind is not None:
        if kind not in adapters:
            raise RefusedError(
                f"model kind {kind!r} is not known here; known: {', '.join(adapters)}"
            )
        candidates = [adapters[kind]]
        flavor = candidates[0].flavor
        if flavor not in flavors:
            raise RefusedError(f"a {kind} model must be logged with the {flavor} flavour")
    else:  # logged before the kind was written into the artifact
        usable = [name for name in LOADERS if name in flavors]
        if not usable:
            raise RefusedError(
                f"no safe loader for flavours {', '.join(flavors) or 'none'}; "
                f"known: {', '.join(LOADERS)}"
            )
        flavor = usable[0]
        candidates = [a for a in adapters.values() if a.flavor == flavor]
    check_signature(mlmodel)  # before the model file is even opened
    estimator = LOADERS[flavor](model_dir, flavors[flavor])
    for adapter in candidates:
        if adapter.matches(estimator):
            return adapter.from_artifact(estimator, mlmodel=mlmodel, model_dir=model_dir)
    what = f"{type(estimator).__module__}.{type(estimator).__qualname__}"
    expected = ", ".join(a.kind for a in candidates)
    hint = (
        "; a model trained elsewhere must be a binary classifier of classes 0 and 1 with "
        "predict_proba"
        if kind is None and flavor == "sklearn"
        else ""
    )
    raise RefusedError(f"the loaded model is a {what}, not a known kind ({expected}){hint}")
