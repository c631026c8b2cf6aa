"""Evaluation: threshold choice on validation, test metrics, and curve plots."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import matplotlib

matplotlib.use("Agg")  # headless: plots are written as image artifacts, never shown

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from core.reliability import ReliabilityReport

DEFAULT_K = 100


@dataclass(frozen=True)
class Metrics:
    """Test-set metrics of one model; ``auprc`` is the headline."""

    auprc: float
    roc_auc: float
    precision: float
    recall: float
    f1: float
    precision_at_k: float
    brier: float
    threshold: float
    k: int

    def as_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}


def choose_threshold(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The probability cut that maximises F1 (use validation data, never test)."""
    precision, recall, thresholds = precision_recall_curve(y_true, proba)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def compute_metrics(
    y_true: np.ndarray, proba: np.ndarray, *, threshold: float, k: int = DEFAULT_K
) -> Metrics:
    """Score predictions against labels.

    Args:
        y_true: 0/1 labels.
        proba: predicted fraud probabilities.
        threshold: decision cut; a row is an alert when ``proba >= threshold``.
        k: size of the review queue for precision@k (capped at the number of rows).

    Returns:
        The metrics, all as plain floats.
    """
    y_true = np.asarray(y_true, dtype=np.int8)
    decision = proba >= threshold
    tp = int(np.sum(decision & (y_true == 1)))
    precision = tp / max(int(decision.sum()), 1)
    recall = tp / max(int(y_true.sum()), 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    k = min(k, len(proba))
    top_k = np.argsort(-proba, kind="stable")[:k]
    return Metrics(
        auprc=float(average_precision_score(y_true, proba)),
        roc_auc=float(roc_auc_score(y_true, proba)),
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        precision_at_k=float(y_true[top_k].mean()) if k else 0.0,
        brier=float(brier_score_loss(y_true, proba)),
        threshold=float(threshold),
        k=int(k),
    )


def plot_pr_curve(y_true: np.ndarray, proba: np.ndarray, *, threshold: float) -> Figure:
    """Precision-recall curve with the operating point marked."""
    precision, recall, _ = precision_recall_curve(y_true, proba)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(recall, precision, label=f"AUPRC {average_precision_score(y_true, proba):.3f}")
    decision = proba >= threshold
    if decision.any():
        p_at = y_true[decision].mean()
        r_at = decision[y_true == 1].mean()
        ax.scatter([r_at], [p_at], color="crimson", zorder=3, label=f"threshold {threshold:.3f}")
    ax.axhline(y_true.mean(), color="grey", linestyle=":", label="no skill")
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall (test)", ylim=(0, 1.02))
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


def plot_roc_curve(y_true: np.ndarray, proba: np.ndarray) -> Figure:
    fpr, tpr, _ = roc_curve(y_true, proba)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(fpr, tpr, label=f"ROC-AUC {roc_auc_score(y_true, proba):.3f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC (test)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def plot_calibration(y_true: np.ndarray, proba: np.ndarray) -> Figure:
    mean_true, mean_pred = calibration_curve(y_true, proba, n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(mean_pred, mean_true, marker="o", label="model")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    ax.set(xlabel="Mean predicted probability", ylabel="Fraud rate", title="Calibration (test)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def plot_reliability(report: ReliabilityReport) -> Figure:
    """Reliability diagram before (the raw model) and after calibration, on test."""
    fig, ax = plt.subplots(figsize=(5, 4))
    after = f"calibrated ({report.probability_scale})"
    for curve, label, brier in (
        (report.before, "raw model", report.brier_before),
        (report.after, after, report.brier_after),
    ):
        ax.plot(curve.predicted, curve.observed, marker="o", label=f"{label}, Brier {brier:.4f}")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
    weighted = " at natural prevalence" if report.sampling_fraction < 1 else ""
    ax.set(
        xlabel="Mean predicted probability",
        ylabel=f"Fraud rate{weighted}",
        title="Reliability before and after calibration (test)",
    )
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig
