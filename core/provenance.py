"""Which data a version's metrics came from: one typed record per version, for every interface.

Training writes it (``core.training.provenance.log_data_provenance``) as version tags, so a
list of versions shows it without downloading anything:

==================  ===========================================================
``data_name``       the file (or frame) name the version was trained on
``data_rows``       rows used (the file's valid rows: train + validation + test)
``data_frauds``     frauds among them
``test_rows``       rows of the test split (the metrics' rows)
``test_frauds``     frauds in the test split
``synthetic_data``  ``true`` for generated demo data, ``false`` for a file of real data
==================  ===========================================================

The same values are run parameters (``data``, ``data_rows``, ``data_frauds``, ``rows_test``,
``test_frauds``, ``synthetic_data``). Versions trained before these existed are read from
the parameters they have (``data``, ``rows_train`` + ``rows_validation`` + ``rows_test``);
what cannot be derived stays None, shown as "unknown", never guessed. The test split's
frauds can be filled in from the split itself once it has been fetched
(:meth:`DataProvenance.with_test_split`). An older version whose data hash
(``data_sha256``) is that of this home's demo file was trained by the bootstrap on
synthetic data, and is read as such.

No MLflow calls: this module reads what :mod:`core.registry` already fetched (and hashes
the demo file, once per change of it).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from core.config import Settings
from core.registry import TAG_DATA_SHA256, ModelVersionInfo

TAG_DATA_NAME = "data_name"
TAG_DATA_ROWS = "data_rows"
TAG_DATA_FRAUDS = "data_frauds"
TAG_TEST_ROWS = "test_rows"
TAG_TEST_FRAUDS = "test_frauds"
TAG_SYNTHETIC = "synthetic_data"
PROVENANCE_TAGS = (
    TAG_DATA_NAME,
    TAG_DATA_ROWS,
    TAG_DATA_FRAUDS,
    TAG_TEST_ROWS,
    TAG_TEST_FRAUDS,
    TAG_SYNTHETIC,
)
"""Version tags written at training (and run parameters of the same name, but the name:
its parameter is ``data``, and ``test_rows``'s is ``rows_test``)."""


def demo_data_path(settings: Settings) -> Path:
    """Where the first-start demo's synthetic data is written (``core.bootstrap``)."""
    return settings.home / "demo" / "transactions.csv"


_demo_hashes: dict[tuple[str, int, int], str] = {}
_demo_lock = threading.Lock()


def demo_data_sha256(settings: Settings) -> str | None:
    """SHA-256 of this home's demo file, None when there is none (hashed once per change)."""
    path = demo_data_path(settings)
    try:
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        with _demo_lock:
            if key not in _demo_hashes:
                with path.open("rb") as handle:
                    _demo_hashes[key] = hashlib.file_digest(handle, "sha256").hexdigest()
            return _demo_hashes[key]
    except OSError:
        return None


PARAM_DATA_NAME = "data"
PARAM_ROWS = ("rows_train", "rows_validation", "rows_test")
PARAM_TEST_ROWS = "rows_test"


@dataclass(frozen=True)
class DataProvenance:
    """What data a version was trained and tested on; None where it is not known.

    Attributes:
        version: the registered model version.
        dataset: the data's name (a file name, or ``frame``).
        rows: rows used (train + validation + test).
        frauds: frauds among ``rows``.
        test_rows: rows of the test split, on which the stored metrics were computed.
        test_frauds: frauds in the test split (how many frauds stand behind each rate).
        synthetic: True for generated demo data, False for a real file, None when unknown.
        sampling_fraction: share of legitimate rows the data kept (1 = all), when stored.
        recorded: True when training wrote these tags; False when derived from an older
            version's run parameters.
    """

    version: int
    dataset: str | None
    rows: int | None
    frauds: int | None
    test_rows: int | None
    test_frauds: int | None
    synthetic: bool | None
    sampling_fraction: float | None
    recorded: bool

    @property
    def fraud_rate(self) -> float | None:
        """Frauds per row of the data as stored (before any prevalence weighting)."""
        if self.rows is None or self.frauds is None or self.rows == 0:
            return None
        return self.frauds / self.rows

    @property
    def natural_fraud_rate(self) -> float | None:
        """The fraud rate with legitimate rows put back (each counted 1 / sampling fraction)."""
        if self.rows is None or self.frauds is None or self.sampling_fraction is None:
            return None
        legitimate = self.rows - self.frauds
        total = self.frauds + legitimate / self.sampling_fraction
        return self.frauds / total if total else None

    @property
    def test_fraud_rate(self) -> float | None:
        if self.test_rows is None or self.test_frauds is None or self.test_rows == 0:
            return None
        return self.test_frauds / self.test_rows

    def with_test_split(self, labels: np.ndarray) -> DataProvenance:
        """The record with the test split's size and frauds counted from its labels (for
        versions trained before ``test_frauds`` was stored; a stored value is kept)."""
        labels = np.asarray(labels)
        return replace(
            self,
            test_rows=self.test_rows if self.test_rows is not None else int(labels.size),
            test_frauds=(
                self.test_frauds if self.test_frauds is not None else int((labels == 1).sum())
            ),
        )

    def as_json(self) -> dict[str, Any]:
        """Stable keys, JSON-ready values (None where unknown)."""
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "frauds": self.frauds,
            "fraud_rate": self.fraud_rate,
            "test_rows": self.test_rows,
            "test_frauds": self.test_frauds,
            "synthetic": self.synthetic,
            "sampling_fraction": self.sampling_fraction,
            "recorded": self.recorded,
        }


def _int(value: str | None) -> int | None:
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if number >= 0 else None


def _bool(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get(str(value).strip().lower())


def provenance_tags(
    *,
    data_name: str,
    rows: int,
    frauds: int,
    test_rows: int,
    test_frauds: int,
    synthetic: bool,
) -> dict[str, str]:
    """The version tags (and run parameters) that record a version's data provenance."""
    return {
        TAG_DATA_NAME: data_name,
        TAG_DATA_ROWS: str(int(rows)),
        TAG_DATA_FRAUDS: str(int(frauds)),
        TAG_TEST_ROWS: str(int(test_rows)),
        TAG_TEST_FRAUDS: str(int(test_frauds)),
        TAG_SYNTHETIC: "true" if synthetic else "false",
    }


def get_provenance(info: ModelVersionInfo, *, settings: Settings | None = None) -> DataProvenance:
    """The data provenance of a version, from its tags, else from its run parameters.

    Args:
        info: the version as the registry returned it, with its run's parameters
            (``list_versions`` and ``get_version`` read them with the metrics).
        settings: when given, a version that does not say whether its data was synthetic
            is read as synthetic if its data hash is that of the home's demo file.

    Returns:
        The record; a field that is neither recorded nor derivable is None.
    """
    tags, params = info.tags, info.params

    def read(tag: str, param: str | None = None) -> str | None:
        if tag in tags:
            return tags[tag]
        return params.get(param or tag)

    rows = _int(read(TAG_DATA_ROWS))
    if rows is None:
        parts = [_int(params.get(name)) for name in PARAM_ROWS]
        rows = sum(p for p in parts if p is not None) if None not in parts else None
    synthetic = _bool(read(TAG_SYNTHETIC))
    if synthetic is None and settings is not None and TAG_DATA_SHA256 in tags:
        # trained by the bootstrap on this home's demo file, before the flag was recorded
        synthetic = True if tags[TAG_DATA_SHA256] == demo_data_sha256(settings) else None
    return DataProvenance(
        version=info.version,
        dataset=read(TAG_DATA_NAME, PARAM_DATA_NAME),
        rows=rows,
        frauds=_int(read(TAG_DATA_FRAUDS)),
        test_rows=_int(read(TAG_TEST_ROWS, PARAM_TEST_ROWS)),
        test_frauds=_int(read(TAG_TEST_FRAUDS)),
        synthetic=synthetic,
        sampling_fraction=info.sampling_fraction,
        recorded=all(tag in tags for tag in PROVENANCE_TAGS),
    )


def _origin(synthetic: bool) -> str:
    return "synthetic (generated) data" if synthetic else "real data"


def describe_origin_mismatch(
    settings: Settings, *, trained: ModelVersionInfo, judged_on: ModelVersionInfo
) -> str | None:
    """Why judging ``trained`` on ``judged_on``'s test split may mislead: one was trained on
    synthetic data and the other on real data (:func:`get_provenance`). None when both are
    of one origin or either is unknown.

    Args:
        settings: the home (an old version that does not say is read as synthetic when its
            data hash is that of the demo file).
        trained: the version being judged (a promotion's candidate).
        judged_on: the version whose test split judges it (possibly ``trained`` itself).

    Returns:
        A sentence naming both versions and origins, and what to do instead.
    """
    candidate = get_provenance(trained, settings=settings).synthetic
    holdout = get_provenance(judged_on, settings=settings).synthetic
    if candidate is None or holdout is None or candidate == holdout:
        return None
    return (
        f"the candidate, version {trained.version}, was trained on {_origin(candidate)} but "
        f"is judged on the test split of version {judged_on.version}, which is "
        f"{_origin(holdout)}: the AUPRCs say how the versions do on {_origin(holdout)}, not "
        f"on {_origin(candidate)}. Judge it on labelled rows of the data it will score "
        "(--evaluation FILE, or upload them on the Compare page)"
    )
