"""Probabilities that mean something: calibrate a model's raw log-odds (numpy, scikit-learn).

A fraud model trained with class weights on down-sampled data ranks well but its
probabilities do not read as rates: the demo model puts hundreds of real rows at
>= 0.999999. A :class:`Calibration` maps the model's raw log-odds to a probability:

- **Platt** (the default): ``sigmoid(a * raw + b)``, fitted by logistic regression on the
  raw log-odds with Platt's targets ((N+ + 1) / (N+ + 2) for frauds, 1 / (N- + 2) for
  legitimate rows, which keep the fit finite on separable data). Affine in log-odds with
  ``a > 0``: the ranking, so AUPRC and ROC-AUC, is unchanged, and SHAP contributions stay
  additive (each scaled by ``a``; the base becomes ``a * base + b + shift``).
- **Isotonic**: a non-decreasing step-wise linear map, chosen only where it beats Platt on
  out-of-fold log-loss. It is not affine, so contributions stay on the raw model's log-odds.
- **Prior correction**: a model trained on data that kept a fraction ``F`` of legitimate
  rows (and every fraud) sees odds ``1/F`` times too high. Natural odds = sampled odds x F,
  i.e. ``prior_shift = log(F)`` added to the calibrated log-odds (0 when ``F = 1``).

Fitting (:func:`fit_calibration`) uses the validation split only, never test (which judges
the version): K stratified folds, each fold's probabilities from a calibrator fitted on the
other K - 1 (out-of-fold, to compare methods honestly); the deployed calibrator is then
fitted on all of validation.

No MLflow, no files: this module works in a notebook too.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from core.errors import InputError
from core.explain import Contributions

log = logging.getLogger(__name__)

RAW = "raw"
PLATT = "platt"
ISOTONIC = "isotonic"
PROBABILITY_SCALES: tuple[str, ...] = (RAW, PLATT, ISOTONIC)
"""What a version's probabilities are: the model's own (``raw``, every version trained
before calibration, and every version trained elsewhere) or calibrated by one method."""
CALIBRATION_METHODS: tuple[str, ...] = ("auto", PLATT, ISOTONIC, "none")
"""What training may ask for: ``auto`` is Platt unless isotonic wins on out-of-fold
log-loss; ``none`` keeps the raw scale."""
DEFAULT_FOLDS = 5
LOG_LOSS_CLIP = 1e-15
"""Probabilities are clipped to [clip, 1 - clip] for log-loss (isotonic can give 0 or 1)."""
_NEWTON_STEPS = 100


def expit(z: np.ndarray) -> np.ndarray:
    """The logistic function, accurate at both ends: ``exp(-log(1 + exp(-z)))``."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


@dataclass(frozen=True)
class Calibration:
    """A fitted map from a model's raw log-odds to a probability.

    Attributes:
        method: ``platt`` or ``isotonic``.
        slope, intercept: Platt's ``a`` and ``b`` (1 and 0 for isotonic).
        knots, levels: isotonic's breakpoints (raw log-odds, increasing) and the
            probabilities there, interpolated linearly and clipped at both ends.
        prior_shift: added to the log-odds after the map: ``log(F)`` for a sampling
            fraction ``F`` (natural odds = sampled odds x F); 0 when nothing was sampled.
    """

    method: str
    slope: float = 1.0
    intercept: float = 0.0
    knots: tuple[float, ...] = ()
    levels: tuple[float, ...] = ()
    prior_shift: float = 0.0

    def __post_init__(self) -> None:
        # A calibration is read back from an artifact's metadata, which anyone can write:
        # refuse what would score NaN, above 1 or out of order rather than apply it.
        if self.method not in (PLATT, ISOTONIC):
            raise InputError(f"unknown calibration method {self.method!r}")
        numbers = np.array(
            [self.slope, self.intercept, self.prior_shift, *self.knots, *self.levels]
        )
        if not np.all(np.isfinite(numbers)):
            raise InputError("a calibration's slope, intercept, shift, knots and levels are finite")
        if not self.prior_shift <= 0.0:
            raise InputError(
                f"prior shift {self.prior_shift} is log(F) for a sampling fraction F <= 1: not > 0"
            )
        if self.method == PLATT and not self.slope > 0:
            raise InputError(f"a Platt calibration needs a positive slope, not {self.slope}")
        if self.method == ISOTONIC:
            if not self.knots or len(self.knots) != len(self.levels):
                raise InputError("an isotonic calibration needs as many levels as knots (>= 1)")
            knots, levels = np.asarray(self.knots), np.asarray(self.levels)
            if np.any(np.diff(knots) < 0) or np.any(np.diff(levels) < 0):
                raise InputError("an isotonic calibration's knots and levels never decrease")
            if levels[0] < 0.0 or levels[-1] > 1.0:
                raise InputError("an isotonic calibration's levels are probabilities in [0, 1]")

    @property
    def additive(self) -> bool:
        """Whether the map is affine in log-odds (Platt): contributions can follow it."""
        return self.method == PLATT

    @property
    def sampling_fraction(self) -> float:
        """The ``F`` the prior shift corrects for (1 when there is none)."""
        return math.exp(self.prior_shift)

    def log_odds(self, raw: np.ndarray) -> np.ndarray:
        """Platt's calibrated, prior-corrected log-odds ``a * raw + b + prior_shift``.

        Raises:
            InputError: an isotonic calibration (not affine: its log-odds can be infinite).
        """
        if not self.additive:
            raise InputError("an isotonic calibration has no affine log-odds")
        return self.slope * np.asarray(raw, dtype=np.float64) + (self.intercept + self.prior_shift)

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated, prior-corrected fraud probability per raw log-odds."""
        if self.additive:
            return expit(self.log_odds(raw))
        p = np.interp(np.asarray(raw, dtype=np.float64), self.knots, self.levels)
        if self.prior_shift == 0.0:
            return p
        fraction = self.sampling_fraction  # odds x F, written to keep 0 and 1 exact
        return p * fraction / (p * fraction + (1.0 - p))

    def apply_to_contributions(self, contributions: Contributions) -> Contributions:
        """Contributions to the calibrated log-odds (Platt): values x a, base -> a x base +
        b + shift, so ``base + values.sum(1)`` is the log-odds of :meth:`apply`.

        Raises:
            InputError: an isotonic calibration (see :meth:`log_odds`).
        """
        if not self.additive:
            raise InputError("an isotonic calibration cannot carry contributions")
        return Contributions(
            values=contributions.values * self.slope,
            base=self.log_odds(contributions.base),
            scale=contributions.scale,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "slope": self.slope,
            "intercept": self.intercept,
            "knots": list(self.knots),
            "levels": list(self.levels),
            "prior_shift": self.prior_shift,
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict())

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        """Read :meth:`to_json`'s output.

        Raises:
            InputError: not a calibration.
        """
        try:
            data = json.loads(text)
            return cls(
                method=str(data["method"]),
                slope=float(data["slope"]),
                intercept=float(data["intercept"]),
                knots=tuple(float(v) for v in data["knots"]),
                levels=tuple(float(v) for v in data["levels"]),
                prior_shift=float(data["prior_shift"]),
            )
        except (KeyError, TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
            raise InputError(f"the calibration is unreadable: {exc!r}") from exc


@dataclass(frozen=True)
class CalibrationFit:
    """What :func:`fit_calibration` found.

    Attributes:
        calibration: the deployed calibration (fitted on all validation rows), or None
            for the raw scale (``none`` asked, or Platt's slope not positive).
        folds: K, the number of cross-fitting folds.
        out_of_fold: each candidate's out-of-fold probabilities on the validation rows, at
            the validation data's own prevalence (no prior shift), and ``raw`` the model's.
        log_loss: the log-loss of each of those against the validation labels.
    """

    calibration: Calibration | None
    folds: int
    out_of_fold: dict[str, np.ndarray] = field(default_factory=dict)
    log_loss: dict[str, float] = field(default_factory=dict)

    @property
    def scale(self) -> str:
        return RAW if self.calibration is None else self.calibration.method


def log_loss(labels: np.ndarray, proba: np.ndarray) -> float:
    """Mean negative log-likelihood, probabilities clipped to [clip, 1 - clip]."""
    y = np.asarray(labels, dtype=np.float64)
    p = np.clip(np.asarray(proba, dtype=np.float64), LOG_LOSS_CLIP, 1.0 - LOG_LOSS_CLIP)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def platt_targets(labels: np.ndarray) -> np.ndarray:
    """Platt's (1999) smoothed targets: (N+ + 1) / (N+ + 2) for frauds, 1 / (N- + 2) else."""
    y = np.asarray(labels) == 1
    positives, negatives = int(y.sum()), int((~y).sum())
    return np.where(y, (positives + 1.0) / (positives + 2.0), 1.0 / (negatives + 2.0))


def fit_platt(raw: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Platt's ``(a, b)``: minimise the cross-entropy of ``sigmoid(a * raw + b)`` against
    :func:`platt_targets`, by Newton's method with step halving (two parameters, convex).

    Returns:
        The slope and intercept (the slope may come out <= 0 for a model that ranks the
        rows backwards; :func:`fit_calibration` then keeps the raw scale).
    """
    s = np.asarray(raw, dtype=np.float64)
    t = platt_targets(labels)
    design = np.column_stack([s, np.ones_like(s)])

    def loss(w: np.ndarray) -> float:
        z = design @ w
        return float(np.sum(np.logaddexp(0.0, z) - t * z))

    w = np.array([0.0, math.log(t.mean() / (1.0 - t.mean()))])
    current = loss(w)
    for _ in range(_NEWTON_STEPS):
        p = expit(design @ w)
        gradient = design.T @ (p - t)
        hessian = (design * (p * (1.0 - p))[:, None]).T @ design
        step = np.linalg.lstsq(hessian + 1e-12 * np.eye(2), gradient, rcond=None)[0]
        size = 1.0
        while size > 1e-10:
            candidate = w - size * step
            value = loss(candidate)
            if value <= current:
                break
            size /= 2
        else:
            break
        w, previous, current = candidate, current, value
        if previous - current <= 1e-14 * max(1.0, abs(current)):
            break
    return float(w[0]), float(w[1])


def fit_isotonic(raw: np.ndarray, labels: np.ndarray) -> tuple[tuple[float, ...], ...]:
    """Isotonic regression of the labels on the raw log-odds: its knots and levels."""
    from sklearn.isotonic import IsotonicRegression  # training only: loading needs none

    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(np.asarray(raw, dtype=np.float64), np.asarray(labels, dtype=np.float64))
    return tuple(map(float, model.X_thresholds_)), tuple(map(float, model.y_thresholds_))


def fit_method(raw: np.ndarray, labels: np.ndarray, method: str) -> Calibration | None:
    """One method fitted on these rows, with no prior shift; None when Platt's slope is
    not positive (no monotone Platt map exists)."""
    if method == PLATT:
        slope, intercept = fit_platt(raw, labels)
        return Calibration(PLATT, slope=slope, intercept=intercept) if slope > 0 else None
    if method == ISOTONIC:
        knots, levels = fit_isotonic(raw, labels)
        return Calibration(ISOTONIC, knots=knots, levels=levels)
    raise InputError(f"unknown calibration method {method!r}; choose platt or isotonic")


def assign_folds(labels: np.ndarray, *, folds: int = DEFAULT_FOLDS, seed: int = 0) -> np.ndarray:
    """Stratified fold number (0..K-1) per row; K is capped at the rarer class's count.

    Raises:
        InputError: fewer than two frauds or two legitimate rows.
    """
    y = np.asarray(labels) == 1
    k = min(folds, int(y.sum()), int((~y).sum()))
    if k < 2:
        raise InputError("calibration needs at least two frauds and two legitimate rows")
    fold_ids = np.empty(len(y), dtype=np.int64)
    from sklearn.model_selection import StratifiedKFold

    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for number, (_, held_out) in enumerate(splitter.split(np.zeros(len(y)), y)):
        fold_ids[held_out] = number
    return fold_ids


def cross_fit(
    raw: np.ndarray, labels: np.ndarray, *, method: str, fold_ids: np.ndarray
) -> np.ndarray:
    """Out-of-fold probabilities: each fold's rows from ``method`` fitted on the other folds
    alone (no prior shift). A fold whose Platt slope is not positive gets the raw model's
    probability (what the version would then keep)."""
    s = np.asarray(raw, dtype=np.float64)
    y = np.asarray(labels)
    out = np.empty(len(s))
    for number in np.unique(fold_ids):
        held_out = fold_ids == number
        fitted = fit_method(s[~held_out], y[~held_out], method)
        out[held_out] = expit(s[held_out]) if fitted is None else fitted.apply(s[held_out])
    return out


def fit_calibration(
    raw: np.ndarray,
    labels: np.ndarray,
    *,
    sampling_fraction: float = 1.0,
    method: str = "auto",
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
) -> CalibrationFit:
    """Choose and fit a version's calibration on its validation rows (never test).

    Args:
        raw: the model's raw log-odds on the validation rows.
        labels: their 0/1 labels.
        sampling_fraction: share of legitimate rows the training data kept (0 < F <= 1);
            the deployed calibration adds ``log(F)`` to its log-odds.
        method: one of :data:`CALIBRATION_METHODS`.
        folds: K for cross-fitting (capped at the rarer class's count).
        seed: the fold shuffle's seed.

    Returns:
        The deployed calibration (or None for the raw scale) and the out-of-fold evidence.

    Raises:
        InputError: an unknown method, a bad sampling fraction, or fewer than two rows of
            either class.
    """
    if method not in CALIBRATION_METHODS:
        raise InputError(
            f"unknown calibration {method!r}; choose one of {', '.join(CALIBRATION_METHODS)}"
        )
    if not 0.0 < sampling_fraction <= 1.0:
        raise InputError(f"sampling fraction {sampling_fraction!r} must be in (0, 1]")
    s = np.asarray(raw, dtype=np.float64)
    y = np.asarray(labels).astype(np.int8)
    fold_ids = assign_folds(y, folds=folds, seed=seed)
    candidates = {"auto": (PLATT, ISOTONIC), "none": ()}.get(method, (method,))
    out_of_fold = {RAW: expit(s)}
    out_of_fold.update({m: cross_fit(s, y, method=m, fold_ids=fold_ids) for m in candidates})
    losses = {name: log_loss(y, p) for name, p in out_of_fold.items()}
    chosen = None
    if candidates:
        chosen = PLATT if method == "auto" else method
        if method == "auto" and losses[ISOTONIC] < losses[PLATT]:
            chosen = ISOTONIC
    deployed = None if chosen is None else fit_method(s, y, chosen)
    if chosen is not None and deployed is None:
        log.warning("Platt's slope on validation is not positive: the raw scale is kept")
    if deployed is not None and sampling_fraction < 1.0:
        deployed = replace(deployed, prior_shift=math.log(sampling_fraction))
    return CalibrationFit(
        calibration=deployed,
        folds=int(fold_ids.max()) + 1,
        out_of_fold=out_of_fold,
        log_loss=losses,
    )
