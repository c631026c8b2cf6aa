"""The evaluation data every compared version is scored on: one set of rows for all.

By default the live version's test split (the last 20% by ``Time`` of its training file,
logged with its run); or a labelled CSV a lead uploads, read by core's loader (bad rows are
reported as the loader reports them, never dropped silently).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from core.artifacts import get_test_split
from core.compare.prevalence import check_sampling_fraction
from core.config import Settings
from core.data import load_transactions
from core.data.loader import Source
from core.errors import InputError
from core.registry import TAG_DATA_SHA256, ModelVersionInfo, get_version, get_version_by_alias
from core.schema import FEATURES, LABEL
from core.training.provenance import TAG_SAMPLING_FRACTION, row_hashes


@dataclass(frozen=True)
class Evaluation:
    """Labelled rows to compare versions on.

    Attributes:
        frame: the valid rows: features, ``Class`` and any passthrough columns.
        labels: ``Class`` as 0/1 int8.
        name: what the rows are, for people (``test split of fraud-detector version 3``).
        rows: valid rows; frauds: how many of them are frauds.
        sampling_fraction: the share of legitimate rows the data keeps (1 = all).
        data_sha256: SHA-256 of the file the rows come from (for a test split, the
            version's training file), None when unknown.
        time_min, time_max: the rows' ``Time`` range.
        source_version: the version whose test split this is, None for a file.
        rejected: rows the loader rejected, with row number, column and reason.
        warnings: the loader's notes worth showing.
    """

    frame: pd.DataFrame
    labels: np.ndarray
    name: str
    rows: int
    frauds: int
    sampling_fraction: float
    data_sha256: str | None
    time_min: float
    time_max: float
    source_version: int | None = None
    rejected: pd.DataFrame = field(default_factory=pd.DataFrame)
    warnings: tuple[str, ...] = ()

    def features(self) -> np.ndarray:
        """The model inputs, (rows, 30) float64 in schema order."""
        return self.frame.loc[:, list(FEATURES)].to_numpy(dtype=np.float64)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the model inputs: scores cached for these rows are reused by it."""
        return hashlib.sha256(np.ascontiguousarray(self.features()).tobytes()).hexdigest()

    @cached_property
    def row_hashes(self) -> pd.Series:
        """Each row's input hash, as the audit log and the training provenance keep it."""
        return row_hashes(self.frame)


def _from_frame(
    frame: pd.DataFrame,
    *,
    name: str,
    sampling_fraction: float,
    data_sha256: str | None,
    source_version: int | None = None,
    rejected: pd.DataFrame | None = None,
    warnings: tuple[str, ...] = (),
) -> Evaluation:
    labels = frame[LABEL].to_numpy(dtype=np.int8)
    frauds = int(labels.sum())
    if frauds == 0 or frauds == len(labels):
        raise InputError(
            f"{name}: {len(labels)} usable rows with {frauds} frauds; comparing needs both "
            "frauds and legitimate rows"
        )
    return Evaluation(
        frame=frame,
        labels=labels,
        name=name,
        rows=len(labels),
        frauds=frauds,
        sampling_fraction=check_sampling_fraction(sampling_fraction),
        data_sha256=data_sha256,
        time_min=float(frame["Time"].min()),
        time_max=float(frame["Time"].max()),
        source_version=source_version,
        rejected=rejected if rejected is not None else pd.DataFrame(),
        warnings=warnings,
    )


def version_sampling_fraction(info: ModelVersionInfo) -> float | None:
    """The sampling fraction stored with a version, None when it has none.

    Raises:
        InputError: the tag is there but not a fraction in (0, 1].
    """
    tag = info.tags.get(TAG_SAMPLING_FRACTION)
    if tag is None:
        return None
    try:
        return check_sampling_fraction(tag)
    except InputError as exc:
        raise InputError(f"{info.name} version {info.version}: {exc}") from exc


def _sha256(source: Source) -> str:
    if isinstance(source, str | Path):
        with Path(source).open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    start = source.tell()
    digest = hashlib.file_digest(source, "sha256").hexdigest()  # type: ignore[arg-type]
    source.seek(start)
    return digest


def load_evaluation(
    settings: Settings,
    *,
    version: int | None = None,
    path: Source | None = None,
    sampling_fraction: float | None = None,
) -> Evaluation:
    """The rows to compare versions on.

    Args:
        settings: where the registry and artifacts are.
        version: use this version's test split (default: the live version's).
        path: use a labelled CSV instead (a path or an open binary file, e.g. an upload).
        sampling_fraction: the data's legitimate-row sampling fraction; by default the
            version's stored one for a test split (1 when it has none), 1 for a file.

    Returns:
        The evaluation rows with their labels, name, sampling fraction, hash and Time range.

    Raises:
        InputError: both a version and a file, a bad sampling fraction, an unusable file,
            no usable rows, or rows of one class only.
        NotFoundError: no such version or live alias, or the version has no test split.
        BackendError: the registry or the artifact store cannot be reached.
    """
    if path is not None and version is not None:
        raise InputError("evaluate on a version's test split or on a file, not both")
    if sampling_fraction is not None:
        check_sampling_fraction(sampling_fraction)
    if path is not None:
        name = Path(str(getattr(path, "name", path))).name or "uploaded file"
        digest = _sha256(path)
        loaded = load_transactions(path, require_label=True)
        if loaded.valid.empty:
            raise InputError(f"{name}: every one of its {loaded.rows_in} rows was rejected")
        return _from_frame(
            loaded.valid,
            name=name,
            sampling_fraction=1.0 if sampling_fraction is None else sampling_fraction,
            data_sha256=digest,
            rejected=loaded.rejected,
            warnings=tuple(loaded.warnings),
        )
    info = (
        get_version(settings, version, with_metrics=False)
        if version is not None
        else get_version_by_alias(settings, with_metrics=False)
    )
    if sampling_fraction is None:
        sampling_fraction = version_sampling_fraction(info) or 1.0
    return _from_frame(
        get_test_split(settings, info.run_id),
        name=f"test split of {info.name} version {info.version}",
        sampling_fraction=sampling_fraction,
        data_sha256=info.tags.get(TAG_DATA_SHA256),
        source_version=info.version,
    )
