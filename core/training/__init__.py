"""Training: split by time, fit LightGBM or a LogReg baseline, evaluate, log and register."""

from core.training.train import MODEL_KINDS, TrainResult, train_from_csv, train_model

__all__ = ["MODEL_KINDS", "TrainResult", "train_from_csv", "train_model"]
