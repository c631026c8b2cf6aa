"""Check the node arrays of a loaded model's trees before anything predicts with them.

Trusting ``sklearn.tree._tree.Tree`` and histogram boosting's ``TreePredictor`` in skops
(``core.models.loading``) lets tree ensembles load, but their node arrays are read by
compiled code without bounds checks: a crafted file with a child index or a feature index
out of range loads fine and then crashes the process or reads memory it should not when it
predicts (skops says so in its own warning), and a child pointing back up loops forever.
So every tree in a loaded model is checked here, vectorised over its nodes:

- a split's children come after it and inside the tree (trees are stored parent first,
  so this also rules out cycles); a leaf has no children;
- a split's feature is one of the columns the tree is given: fewer than the tree's own
  ``n_features`` and than the ``n_features_in_`` of every estimator that holds it since
  the nearest pipeline step (which is what scikit-learn checks inputs against).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from core.errors import RefusedError

MAX_DEPTH = 64
"""How deep the walk through a model's attributes goes (a real model needs under ten)."""


def _children(obj: Any) -> Iterator[Any]:
    if isinstance(obj, dict):
        yield from obj.values()
    elif isinstance(obj, list | tuple):
        yield from obj
    elif isinstance(obj, np.ndarray):
        if obj.dtype == object:
            yield from obj.ravel()
    elif hasattr(obj, "__dict__") and type(obj).__module__.startswith("sklearn"):
        yield from vars(obj).values()


def _walk(obj: Any, widths: tuple[int, ...], seen: set[int], depth: int) -> Iterator[Any]:
    """Yield (tree, widths) for every tree inside ``obj``; ``widths`` are the
    ``n_features_in_`` of the estimators holding it since the nearest pipeline."""
    if id(obj) in seen or depth > MAX_DEPTH:
        return
    seen.add(id(obj))
    name = type(obj).__name__
    if name in ("Tree", "TreePredictor") and type(obj).__module__.startswith("sklearn"):
        yield obj, widths
        return
    if name == "Pipeline":  # each step sees what the step before it made
        widths = ()
    width = getattr(obj, "__dict__", {}).get("n_features_in_")
    if isinstance(width, int | np.integer):
        widths = (*widths, int(width))
    for child in _children(obj):
        yield from _walk(child, widths, seen, depth + 1)


def _check_nodes(
    left: np.ndarray, right: np.ndarray, feature: np.ndarray, leaf: np.ndarray, width: int
) -> str | None:
    n = len(left)
    index = np.arange(n)
    split = ~leaf
    if np.any((left[split] <= index[split]) | (left[split] >= n)):
        return "a split's left child is outside the tree or before the split"
    if np.any((right[split] <= index[split]) | (right[split] >= n)):
        return "a split's right child is outside the tree or before the split"
    if np.any((feature[split] < 0) | (feature[split] >= width)):
        return f"a split uses a feature outside the {width} columns the tree is given"
    return None


def _problem(tree: Any, widths: tuple[int, ...]) -> str | None:
    if type(tree).__name__ == "Tree":
        width = int(tree.n_features)
        if any(w != width for w in widths):
            return f"the tree takes {width} columns, its estimator {widths[-1]}"
        left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
        if len(left) != tree.node_count or len(right) != tree.node_count:
            return "its node arrays do not have node_count entries"
        leaf = left == -1
        if np.any(leaf != (right == -1)):
            return "a node has one child"
        return _check_nodes(left, right, np.asarray(tree.feature), leaf, width)
    if not widths or len(set(widths)) != 1:  # a TreePredictor knows no width of its own
        return "the number of columns its trees are given is unknown"
    nodes = tree.nodes
    leaf = nodes["is_leaf"].astype(bool)
    problem = _check_nodes(
        nodes["left"].astype(np.int64),
        nodes["right"].astype(np.int64),
        nodes["feature_idx"].astype(np.int64),
        leaf,
        widths[0],
    )
    categorical = nodes["is_categorical"].astype(bool) & ~leaf
    bitsets = len(getattr(tree, "raw_left_cat_bitsets", ()))
    if problem is None and np.any(nodes["bitset_idx"][categorical] >= bitsets):
        return "a categorical split points outside its bitsets"
    return problem


def check_trees(estimator: Any) -> int:
    """Refuse a model any of whose trees could make scikit-learn read out of bounds.

    Args:
        estimator: a model just loaded with skops.

    Returns:
        How many trees were checked (0 for a model without trees).

    Raises:
        RefusedError: a tree's node arrays are malformed; the message says how.
    """
    count = 0
    for tree, widths in _walk(estimator, (), set(), 0):
        problem = _problem(tree, widths)
        if problem:
            raise RefusedError(
                f"the model file holds a malformed tree ({problem}); it is not used, since "
                "predicting with it could crash the process or read memory out of bounds"
            )
        count += 1
    return count
