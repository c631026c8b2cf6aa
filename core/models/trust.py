"""Decide which types a scikit-learn model file may hold: ours, read before anything is built.

``skops.io.load(trusted=...)`` adds the list it is given to skops's own defaults, which
trust every scikit-learn estimator (k-nearest neighbours with their compiled KD-trees,
SVMs with libsvm's support indices, ``FunctionTransformer`` and its function, ...). A list
passed to skops therefore cannot limit what loads. So before skops builds anything, every
type the file names is read from its ``schema.json`` (a skops file is a zip holding that
description of the object graph plus the arrays) and checked against the lists below,
which alone decide: a file naming any other type is refused, nothing in it constructed.

The walk is fail-closed: every object in the schema (any JSON object carrying a
``__class__``, ``__module__`` or ``__loader__`` key, wherever it sits) must be built by one
of the skops node kinds in :data:`NODE_LOADERS`, each of which builds exactly the type its
``__module__`` and ``__class__`` name, and only the current skops protocol is read (older
protocols build some objects differently).

The lists were found on real files of every estimator in :data:`TRUSTED_ESTIMATORS`, fitted
on arrays and on data frames (``tests/test_external_models.py`` loads each of them).
"""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from typing import Any

from core.errors import BackendError, RefusedError

TRUSTED_ESTIMATORS: tuple[str, ...] = (
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.ExtraTreeClassifier",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
)
"""The standard estimators a version trained elsewhere may be, or hold (a pipeline's steps)."""

TRUSTED_INTERNALS: tuple[str, ...] = (
    # the nodes of every tree: checked by core.models.trees before the model is used
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # gradient boosting's stages and initial estimator
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.dummy.DummyClassifier",
    # histogram gradient boosting's binning and label encoding
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.preprocessing._label.LabelEncoder",
    # the binomial loss both boostings keep (pure parameters, no arrays)
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
)
"""What the trusted estimators keep after fitting, and nothing else."""

TRUSTED_DATA: tuple[str, ...] = (
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.NoneType",
    "numpy.ndarray",
    *(
        f"numpy.{name}"
        for name in [
            "bool",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "float16",
            "float32",
            "float64",
        ]
    ),
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
)
"""Containers, numbers and numeric arrays (read by numpy without pickle)."""

SKOPS_TRUSTED_TYPES: list[str] = [*TRUSTED_ESTIMATORS, *TRUSTED_INTERNALS, *TRUSTED_DATA]
"""Every type a scikit-learn model file may name; never the list an artifact carries."""

NODE_LOADERS: frozenset[str] = frozenset(
    {
        "ObjectNode", "DictNode", "ListNode", "TupleNode", "JsonNode", "NdArrayNode",
        "TypeNode", "TreeNode", "LossNode", "RandomStateNode", "RandomGeneratorNode",
        "CachedNode",
    }
)  # fmt: skip
"""The skops node kinds the trusted estimators' files use; a function, a bound method, a
``functools.partial`` or any other kind is refused whatever it names."""

SKOPS_PROTOCOL = 2
"""The skops file protocol read here (skops 0.16's, the pinned version)."""

_NODE_KEYS = ("__loader__", "__module__", "__class__")


def _estimator_names() -> str:
    return ", ".join(path.rsplit(".", 1)[1] for path in TRUSTED_ESTIMATORS)


def untrusted_hint() -> str:
    """How to proceed when a model is refused for its types: the message's second half."""
    return (
        f"only these scikit-learn estimators load here: {_estimator_names()}; refit the "
        "model as one of them (or train it with `workbench train`) and log it with "
        "mlflow.sklearn.log_model(..., serialization_format='skops')"
    )


def read_schema(data: bytes) -> dict[str, Any]:
    """The ``schema.json`` of a skops file, parsed, its protocol checked.

    Raises:
        BackendError: the file is not a skops zip or its schema is not JSON.
        RefusedError: the file was written with another skops protocol.
    """
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, RecursionError) as exc:
        raise BackendError(f"the scikit-learn model file cannot be read: {exc}") from exc
    if not isinstance(schema, dict):
        raise BackendError("the scikit-learn model file's schema is not an object")
    protocol = schema.get("protocol")
    if protocol != SKOPS_PROTOCOL or isinstance(protocol, bool):
        raise RefusedError(
            f"the scikit-learn model file was written with skops protocol {protocol!r}, not "
            f"{SKOPS_PROTOCOL}; log it again with the skops version in requirements.txt"
        )
    return schema


def find_untrusted_types(schema: dict[str, Any]) -> list[str]:
    """Every type or node kind in a skops schema that our lists do not trust.

    Args:
        schema: a parsed ``schema.json`` (:func:`read_schema`).

    Returns:
        The untrusted ``module.Class`` names (and ``loader <kind>`` for unknown node kinds),
        sorted; empty when the file holds only trusted types.
    """
    trusted = set(SKOPS_TRUSTED_TYPES)
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:  # iterative: a crafted file cannot exhaust the call stack
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        if any(key in item for key in _NODE_KEYS):
            loader, module, name = (item.get(key) for key in _NODE_KEYS)
            if loader not in NODE_LOADERS:
                found.add(f"loader {loader}")
            path = f"{module}.{name}"
            if not (isinstance(module, str) and isinstance(name, str)) or path not in trusted:
                found.add(path)
        stack.extend(item.values())
    return sorted(found)


def check_skops_file(data: bytes) -> None:
    """Refuse a skops file naming any type outside our lists, before anything is built.

    Args:
        data: the bytes of the ``.skops`` file.

    Raises:
        RefusedError: an untrusted type or node kind (each named, with how to proceed), or
            another skops protocol.
        BackendError: the file cannot be read as a skops file.
    """
    untrusted = find_untrusted_types(read_schema(data))
    if untrusted:
        raise RefusedError(
            f"the scikit-learn model holds types not trusted here: {', '.join(untrusted)}; "
            f"{untrusted_hint()}"
        )
