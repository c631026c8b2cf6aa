"""Check that a logged model takes our transactions: its signature and its fitted columns.

Versions trained elsewhere (a notebook's ``mlflow.sklearn.log_model``) carry whatever
signature their author's data gave them. Scoring feeds every model the 30 columns of
``core.schema.FEATURES`` as float64, so a version that expects other columns or other types
is refused when it is loaded, with every problem named, instead of failing (or silently
mis-scoring) on the first transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlflow.models import Model

from core.errors import InputError
from core.schema import FEATURES

NUMERIC_TYPES = frozenset({"double", "float", "long", "integer"})
"""Signature column types our float64 features can be given as (MLflow's type names)."""


def _spec_type(spec: Any) -> str:
    kind = getattr(spec, "type", None)
    return str(getattr(kind, "name", kind))


def check_signature(mlmodel: Model) -> None:
    """Refuse a model whose signature does not take our 30 numeric features.

    A model logged without a signature passes here; its fitted columns are checked when
    it is loaded (:func:`check_fitted_columns`).

    Args:
        mlmodel: the parsed MLmodel file.

    Raises:
        InputError: a column is missing, extra or not numeric (each one named), or the
            signature is a tensor of another width or type.
    """
    signature = mlmodel.signature
    if signature is None or signature.inputs is None:
        return
    inputs = signature.inputs
    if inputs.is_tensor_spec():
        specs = inputs.inputs
        shape = tuple(specs[0].shape) if len(specs) == 1 else ()
        dtype = str(specs[0].type) if len(specs) == 1 else ""
        if len(specs) != 1 or len(shape) != 2 or shape[1] != len(FEATURES):
            raise InputError(
                f"the model's signature takes tensors {[tuple(s.shape) for s in specs]}; "
                f"expected one (rows, {len(FEATURES)}) array of the columns "
                f"{FEATURES[0]}, ..., {FEATURES[-1]}"
            )
        if not dtype.startswith("float"):
            raise InputError(f"the model's signature takes {dtype} arrays; expected floats")
        return
    if not inputs.has_input_names():
        raise InputError("the model's signature has unnamed columns; expected our 30 features")
    problems = describe_columns(inputs.input_names())
    wrong_type = [
        f"{spec.name} is {_spec_type(spec)}, expected a number"
        for spec in inputs.inputs
        if spec.name in FEATURES and _spec_type(spec) not in NUMERIC_TYPES
    ]
    problems.extend(wrong_type)
    if problems:
        raise InputError(
            "the model's signature does not match the transactions: " + "; ".join(problems)
        )


def describe_columns(names: Sequence[str]) -> list[str]:
    """What is wrong with a model's input column names: missing, extra or repeated ones."""
    problems = []
    missing = [name for name in FEATURES if name not in names]
    extra = [name for name in names if name not in FEATURES]
    repeated = sorted({name for name in names if list(names).count(name) > 1})
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if extra:
        problems.append(f"unknown column(s) {', '.join(map(str, extra))}")
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    return problems


def check_fitted_columns(estimator: Any) -> list[int]:
    """The estimator's input order as indices into ``FEATURES``.

    An estimator fitted on a data frame knows its column names (``feature_names_in_``) and
    checks them, in order, at predict time: they must be our 30 features, in any order. One
    fitted on a plain array knows only how many columns it takes; it is given them in the
    schema's order.

    Args:
        estimator: a loaded scikit-learn estimator.

    Returns:
        ``order`` such that ``features[:, order]`` is what the estimator expects.

    Raises:
        InputError: other columns, or another number of them.
    """
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        names = [str(name) for name in names]
        problems = describe_columns(names)
        if problems:
            raise InputError("the model was fitted on other columns: " + "; ".join(problems))
        return [FEATURES.index(name) for name in names]
    width = getattr(estimator, "n_features_in_", len(FEATURES))
    if width != len(FEATURES):
        raise InputError(
            f"the model was fitted on {width} columns; expected the {len(FEATURES)} features "
            f"{FEATURES[0]}, ..., {FEATURES[-1]}"
        )
    return list(range(len(FEATURES)))
