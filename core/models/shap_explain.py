"""SHAP contributions for scikit-learn models trained elsewhere, through the ``shap`` package.

Our own kinds compute exact contributions themselves (``core.explain``); a model logged from
a notebook can be anything scikit-learn fits, so it is explained with ``shap``:

- **tree ensembles** (random forest, extra trees, gradient boosting, histogram gradient
  boosting, a decision tree): ``shap.TreeExplainer``, exact, no background data. Its scale
  is the trees' own output: the probability for forests and single trees (they average
  class frequencies), log-odds for gradient boosting;
- **anything else** (a pipeline, a linear model, ...): ``shap.PermutationExplainer`` on the
  log-odds of ``predict_proba``, against a small background sample: the input example the
  version was logged with. Exact in total (base + contributions = the log-odds), estimated
  per feature from a fixed number of permutations with a fixed seed. Without a logged input
  example there is no background, and the version cannot be explained.

``shap`` (and numba behind it) is imported here only, when a version is first explained:
never by ``import core`` nor by scoring a version of our own kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import ExplanationUnavailableError
from core.explain import LOG_ODDS, PROBABILITY_SCALE

BACKGROUND_ROWS = 100
"""At most this many background rows for the permutation explainer (shap's own default)."""
PERMUTATIONS = 10
"""Permutations per row (each costs two passes over the 30 features)."""
CLIP = 1e-12
"""Probabilities are clipped to [CLIP, 1 - CLIP] before taking log-odds (0 and 1 have none)."""

TREE_SCALES = {"probability": PROBABILITY_SCALE, "log_odds": LOG_ODDS}
"""shap's name for a tree model's output -> the scale its contributions are on."""


def log_odds(probability: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` of probabilities clipped to [CLIP, 1 - CLIP]."""
    p = np.clip(np.asarray(probability, dtype=np.float64), CLIP, 1.0 - CLIP)
    return np.log(p) - np.log1p(-p)


@contextmanager
def _numpy_seed(seed: int = 0) -> Iterator[None]:
    """Seed numpy's global generator (the one shap's permutations draw from) for a block,
    and put the process's state back after it: nothing else sees shap's seeding."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


@dataclass(frozen=True)
class ShapExplainer:
    """A built explainer: how (``tree`` or ``permutation``), on which scale, and the call.

    ``explain(x)`` takes rows in the estimator's own column order and returns
    ``(values, base)``: per-row contributions in that order and per-row base values.
    """

    method: str
    scale: str
    explain: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def build_explainer(
    estimator: Any,
    *,
    predict: Callable[[np.ndarray], np.ndarray],
    to_input: Callable[[np.ndarray], Any],
    background: np.ndarray | None,
) -> ShapExplainer:
    """Pick and build the explainer for a binary scikit-learn classifier.

    Args:
        estimator: the loaded estimator (classes 0 and 1).
        predict: fraud probability per row of an array in the estimator's column order.
        to_input: turns such an array into what the estimator takes (a named frame).
        background: rows in the estimator's column order for the permutation explainer,
            or None when the version was logged without an input example.

    Returns:
        The explainer: TreeExplainer where shap knows the model, else a permutation one.

    Raises:
        ExplanationUnavailableError: not a tree model shap knows, and no background rows.
    """
    import shap  # lazily: numba and shap cost ~1 s, and only explaining these needs them
    from shap.utils._exceptions import InvalidModelError

    try:
        tree = shap.TreeExplainer(estimator)
    except (InvalidModelError, NotImplementedError, TypeError, ValueError):
        tree = None
    scale = TREE_SCALES.get(getattr(getattr(tree, "model", None), "tree_output", None) or "")
    if tree is not None and scale is not None:

        def explain_trees(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            values = np.asarray(tree.shap_values(to_input(x), check_additivity=False))
            if values.ndim == 3:  # one slice per class: the fraud class is the last
                values = values[:, :, -1]
            base = float(np.atleast_1d(tree.expected_value)[-1])
            return values.astype(np.float64), np.full(len(x), base)

        return ShapExplainer(method="tree", scale=scale, explain=explain_trees)
    if background is None or len(background) == 0:
        raise ExplanationUnavailableError(
            f"explanations are unavailable for this version: shap has no tree explainer for "
            f"a {type(estimator).__name__}, and the permutation explainer needs background "
            "rows, which come from the input example the model is logged with; re-log it "
            "with input_example=<a few training rows>"
        )
    masker = shap.maskers.Independent(background, max_samples=BACKGROUND_ROWS)
    with _numpy_seed():  # shap seeds numpy's global generator when it is built
        permutation = shap.PermutationExplainer(lambda x: log_odds(predict(x)), masker, seed=0)
    evaluations = 2 * background.shape[1] * PERMUTATIONS + 1

    def explain_permutations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with _numpy_seed():  # the same rows get the same permutations, call after call
            out = permutation(x, max_evals=evaluations, silent=True)
        values = np.asarray(out.values, dtype=np.float64).reshape(len(x), -1)
        return values, np.asarray(out.base_values, dtype=np.float64).reshape(len(x))

    return ShapExplainer(method="permutation", scale=LOG_ODDS, explain=explain_permutations)
