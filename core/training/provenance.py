"""What each version records about its training data, so later checks can read it.

- the legitimate-row **sampling fraction** (a run parameter and a version tag): metrics
  are weighted back to the natural prevalence with it;
- the ``Time`` range of the rows the model saw (train and validation: validation chose the
  early stopping and the threshold), as run parameters;
- the SHA-256 of each of those rows' model inputs, the same hash the audit log keeps
  (``core.audit.compute_input_hashes``), as the artifact ``data/train_row_hashes.parquet``.

The leakage guard (``core.compare.leakage``) reads them back. The data file's own hash is
logged by ``train.py`` already (param and tag ``data_sha256``).

It also records which data the metrics came from (:func:`log_data_provenance`): the data's
name, rows, frauds, the test split's rows and frauds, and whether the data is synthetic,
as run parameters and as version tags (``core.provenance`` reads them back).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import mlflow
import pandas as pd

from core.audit import compute_input_hashes
from core.provenance import TAG_DATA_NAME, TAG_TEST_ROWS, provenance_tags
from core.registry import TAG_SAMPLING_FRACTION
from core.schema import FEATURES, LABEL

PARAM_TIME_MIN = "train_time_min"
PARAM_TIME_MAX = "train_time_max"
ROW_HASHES_ARTIFACT = "data/train_row_hashes.parquet"
HASH_COLUMN = "input_hash"


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """The audit log's SHA-256 of each row's 30 model inputs (schema order, float64)."""
    features = frame.loc[:, list(FEATURES)].to_numpy(dtype="<f8")
    return pd.Series(compute_input_hashes(features), name=HASH_COLUMN, dtype="string")


def log_training_data(seen: pd.DataFrame, *, sampling_fraction: float) -> None:
    """Log, to the active run, the sampling fraction, Time range and row hashes of ``seen``.

    Args:
        seen: the rows the model was fitted and tuned on (train and validation).
        sampling_fraction: the legitimate-row sampling fraction of the source data.
    """
    mlflow.log_params(
        {
            TAG_SAMPLING_FRACTION: repr(float(sampling_fraction)),
            PARAM_TIME_MIN: repr(float(seen["Time"].min())),
            PARAM_TIME_MAX: repr(float(seen["Time"].max())),
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(ROW_HASHES_ARTIFACT).name
        row_hashes(seen).drop_duplicates().to_frame().to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=str(Path(ROW_HASHES_ARTIFACT).parent))


def log_data_provenance(
    frame: pd.DataFrame, test: pd.DataFrame, *, data_name: str, synthetic: bool
) -> dict[str, str]:
    """Log, to the active run, which data the version's metrics came from.

    Args:
        frame: every row used (train, validation and test).
        test: the test split, on which the metrics are computed.
        data_name: the data's readable name (already the ``data`` parameter).
        synthetic: the data was generated (``core.data.synthetic``), not read from real
            transactions.

    Returns:
        The version tags to register the version with (``core.provenance``).
    """
    tags = provenance_tags(
        data_name=data_name,
        rows=len(frame),
        frauds=int((frame[LABEL] == 1).sum()),
        test_rows=len(test),
        test_frauds=int((test[LABEL] == 1).sum()),
        synthetic=synthetic,
    )
    # ``data`` and ``rows_test`` are logged already under those names
    mlflow.log_params({k: v for k, v in tags.items() if k not in (TAG_DATA_NAME, TAG_TEST_ROWS)})
    return tags
