"""The batch page's results on disk: bounded memory whatever the file's size.

One folder per browser session under ``<home>/batches/<session>/``, one sub-folder per
scored file: the upload copied there in blocks (``upload.csv``, removed once scored), the
scored rows (``scored.parquet``) and the rejected rows (``scored.rejected.parquet``).
The page reads back only the columns and rows it shows: the top rows by score under a
filter, a few columns for the histogram and the evaluation, one row for Explain; the
downloads are written from the Parquet file batch by batch.

Streamlit has no reliable session-end hook, so a session's folder is removed when it has
not been touched for ``settings.batch_max_age`` hours, swept at the start of every batch
run (:func:`sweep_batches`). Sessions run in threads of one server (or in several
servers over one home), so a sweep and another session's new run or touch could
interleave: all three hold one lock file (``<home>/batches/.lock``, :func:`lock_batches`).
The sweep judges a folder's age and moves it aside under the lock, so a folder being
created or just touched is never removed; the slow delete happens after.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import filelock
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from core.config import Settings
from core.errors import BackendError, InputError
from core.safe_csv import write_safe_csv
from core.schema import INVALID_LABEL, LABEL
from core.scoring.base import DECISION, ID_COLUMNS, PROBABILITY

BATCHES = "batches"
COPY_BLOCK = 8 << 20
"""Bytes copied at a time from an upload to disk."""
_SESSION = re.compile(r"[0-9a-f]{32}")
ROW = "row"
LOCK = ".lock"
LOCK_WAIT = 30.0
"""Seconds a new run or a touch waits for a sweep (which holds the lock for a moment)."""
SWEPT = ".swept-"
"""A session folder the sweep moved aside, then deletes (left over if it was stopped)."""

Decision = Literal["alert", "no alert"]
Label = Literal["fraud", "legitimate", "unlabelled"]


def batches_folder(settings: Settings) -> Path:
    """Where every session's batch folders live."""
    return settings.home / BATCHES


def new_session_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def lock_batches(root: Path, *, timeout: float = LOCK_WAIT) -> Iterator[None]:
    """Hold the lock over the session folders under ``root`` (:func:`batches_folder`):
    a new run, a touch and a sweep each hold it, so they never interleave.

    Args:
        root: the batches folder; made if missing.
        timeout: seconds to wait for the lock; 0 to try once.

    Raises:
        BackendError: another session still holds it after ``timeout`` seconds.
    """
    root.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(root / LOCK, mode=0o600)
    try:
        lock.acquire(timeout=timeout)
    except filelock.Timeout as exc:
        raise BackendError(
            f"the batch folders in {root} are busy (locked by another session for over "
            f"{timeout:g} s); try again"
        ) from exc
    try:
        yield
    finally:
        lock.release()


@dataclass(frozen=True)
class BatchFiles:
    """One scored file's folder and the files in it."""

    folder: Path

    @property
    def upload(self) -> Path:
        return self.folder / "upload.csv"

    @property
    def scored(self) -> Path:
        return self.folder / "scored.parquet"

    @property
    def rejected(self) -> Path:
        return self.folder / "scored.rejected.parquet"

    def exists(self) -> bool:
        return self.scored.is_file()

    def touch(self, *, timeout: float = LOCK_WAIT) -> bool:
        """Mark the run and its session as in use, so the sweep keeps them (waiting at
        most ``timeout`` seconds for the lock; 0 to try once).

        Returns:
            Whether the run's results are still there (False once swept).

        Raises:
            BackendError: a sweep held the lock for over :data:`LOCK_WAIT` seconds.
        """
        with lock_batches(self.folder.parent.parent, timeout=timeout):
            if not self.exists():
                return False
            try:
                for path in (self.folder, self.folder.parent):
                    os.utime(path)
            except FileNotFoundError:  # replaced by a newer file meanwhile (no lock)
                return False
            return True

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def new_batch_files(settings: Settings, session: str) -> BatchFiles:
    """A new, empty folder for one file scored in ``session`` (a :func:`new_session_id`).

    Raises:
        InputError: ``session`` is not a session id (it names a folder).
    """
    if not _SESSION.fullmatch(session):
        raise InputError(f"not a batch session id: {session!r}")
    session_folder = batches_folder(settings) / session
    with lock_batches(session_folder.parent):  # a sweep judging this session waits
        # Owner only: the folders hold uploaded transactions; other accounts on the
        # machine (and their processes) have no business reading them.
        session_folder.mkdir(mode=0o700, exist_ok=True)
        folder = session_folder / uuid.uuid4().hex
        folder.mkdir(mode=0o700)  # the session folder is young again too: its mtime moves
    return BatchFiles(folder)


def sweep_batches(settings: Settings, *, now: float | None = None) -> list[Path]:
    """Remove session folders untouched for ``settings.batch_max_age`` hours.

    A folder's age is that of the newest thing in it (the folder itself, its runs, their
    files), so a session still in use is kept. Ages are judged, and old folders moved
    aside, under :func:`lock_batches`: a run being created or a folder being touched
    (which hold it too) is never removed. When another session holds the lock, nothing is
    swept now: the next batch run sweeps. The moved folders are deleted after the lock is
    released.

    Returns:
        The session folders removed.
    """
    root = batches_folder(settings)
    if not root.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - settings.batch_max_age * 3600
    removed: list[Path] = []
    doomed: list[Path] = []
    try:
        with lock_batches(root, timeout=0):
            for session in root.iterdir():
                if session.name.startswith(SWEPT):  # left by a sweep that was stopped
                    doomed.append(session)
                elif session.is_dir() and _newest_change(session) < cutoff:
                    aside = root / f"{SWEPT}{uuid.uuid4().hex}"
                    try:
                        session.rename(aside)
                    except OSError:  # removed meanwhile by its own session
                        continue
                    removed.append(session)
                    doomed.append(aside)
    except BackendError:  # busy: another session creates, touches or sweeps right now
        return []
    for folder in doomed:
        shutil.rmtree(folder, ignore_errors=True)
    return removed


def _newest_change(folder: Path) -> float:
    """The newest modification time of ``folder`` and everything in it; now if a file
    went while looking (its session is at work: removing its previous results)."""
    try:
        return max(p.stat().st_mtime for p in [folder, *folder.rglob("*")])
    except OSError:
        return time.time()


def save_upload(stream: BinaryIO, files: BatchFiles) -> Path:
    """Copy an upload to ``files.upload`` in blocks of :data:`COPY_BLOCK` bytes."""
    stream.seek(0)
    with files.upload.open("wb") as out:
        shutil.copyfileobj(stream, out, COPY_BLOCK)
    return files.upload


# --------------------------------------------------------------------------- reading back


@dataclass(frozen=True)
class RowFilter:
    """What the table shows: by decision, by label, and a search on the transaction id
    (or, in a file without one, on the row number)."""

    decision: Decision | None = None
    label: Label | None = None
    search: str = ""


@dataclass(frozen=True)
class RowPage:
    """The top rows by score that pass a filter, and how many rows pass it in all."""

    rows: pd.DataFrame
    matching: int


def _dataset(path: Path) -> ds.Dataset:
    return ds.dataset(path, format="parquet")


def id_column(path: Path) -> str | None:
    """The file's transaction id column, the first of ``ID_COLUMNS`` it has."""
    names = _dataset(path).schema.names
    return next((name for name in ID_COLUMNS if name in names), None)


def has_column(path: Path, name: str) -> bool:
    return name in _dataset(path).schema.names


def has_label(path: Path) -> bool:
    return has_column(path, LABEL)


def _expression(path: Path, where: RowFilter) -> ds.Expression | None:
    parts: list[ds.Expression] = []
    if where.decision is not None:
        parts.append(ds.field(DECISION) == (1 if where.decision == "alert" else 0))
    if where.label is not None:
        if not has_label(path):
            parts.append(ds.scalar(False))
        elif where.label == "unlabelled":  # empty Class; an invalid one is not unlabelled
            parts.append(ds.field(LABEL).is_null(nan_is_null=True))
            if has_column(path, INVALID_LABEL):
                invalid = ds.field(INVALID_LABEL)
                parts.append(invalid.is_null() | (invalid == ""))
        else:
            parts.append(ds.field(LABEL) == (1.0 if where.label == "fraud" else 0.0))
    text = where.search.strip()
    if text:
        column = id_column(path)
        if column is not None:
            parts.append(pc.match_substring(ds.field(column), text, ignore_case=True))
        elif text.isascii() and text.isdigit() and int(text) < 2**63:
            # ASCII only: '²' passes str.isdigit but not int(); past int64 Arrow overflows
            parts.append(ds.field(ROW) == int(text))
        else:
            parts.append(ds.scalar(False))
    if not parts:
        return None
    expression = parts[0]
    for part in parts[1:]:
        expression = expression & part
    return expression


def query_rows(path: Path, where: RowFilter = RowFilter(), *, limit: int = 1_000) -> RowPage:
    """The ``limit`` highest-scored rows of the whole file that pass ``where``.

    Two passes over the file, reading only what each needs: the score and row number of
    every passing row (16 bytes a row), then the full rows of the chosen few. Ties in score
    are broken by row number, so the page is the same on every call.

    Args:
        path: a scored Parquet file.
        where: the filter.
        limit: how many rows at most.

    Returns:
        The rows, highest score first, and how many rows pass the filter.
    """
    dataset = _dataset(path)
    expression = _expression(path, where)
    keys = dataset.to_table(columns=[ROW, PROBABILITY], filter=expression)
    matching = keys.num_rows
    scores = keys.column(PROBABILITY).to_numpy()
    numbers = keys.column(ROW).to_numpy()
    top = np.lexsort((numbers, -scores))[:limit]
    rows = _read_rows(path, numbers[top])
    rows = rows.sort_values([PROBABILITY, ROW], ascending=[False, True], kind="stable")
    return RowPage(rows.reset_index(drop=True), matching)


def _read_rows(path: Path, numbers: np.ndarray) -> pd.DataFrame:
    """The full rows with these row numbers, one row group at a time: only the groups
    whose row-number range holds one are read, and one group (a scored chunk) at most is
    in memory beside the rows kept. A filtered dataset scan would read every column of
    every group, several at once."""
    wanted = np.sort(np.asarray(numbers, dtype=np.int64))
    value_set = pa.array(wanted)
    parquet = pq.ParquetFile(path)
    column = parquet.schema_arrow.get_field_index(ROW)
    parts = []
    for group in range(parquet.num_row_groups):
        stats = parquet.metadata.row_group(group).column(column).statistics
        if stats is not None and stats.has_min_max:
            first = int(np.searchsorted(wanted, stats.min))  # the first wanted >= min
            if first == len(wanted) or wanted[first] > stats.max:
                continue
        table = parquet.read_row_group(group)
        parts.append(table.filter(pc.is_in(table.column(ROW), value_set=value_set)))
    if not parts:
        return parquet.schema_arrow.empty_table().to_pandas()
    return pa.concat_tables(parts).to_pandas()


def read_row(path: Path, row: int) -> pd.Series:
    """One scored row by its row number in the file.

    Raises:
        InputError: the file has no such row (it was rejected, or is out of range).
    """
    found = _read_rows(path, np.array([row]))
    if found.empty:
        raise InputError(f"row {row} is not among the scored rows")
    return found.iloc[0]


def read_columns(path: Path, columns: list[str]) -> dict[str, np.ndarray]:
    """Whole columns as numpy arrays (a null label becomes NaN); only these are read."""
    table = _dataset(path).to_table(columns=columns)
    return {
        name: table.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        if name == LABEL
        else table.column(name).to_numpy(zero_copy_only=False)
        for name in columns
    }


def export_csv(path: Path, out: Path) -> Path:
    """A Parquet file as a spreadsheet-safe CSV (``core.safe_csv.neutralise_formulas``),
    written batch by batch. Returns ``out``."""
    return write_safe_csv(pq.ParquetFile(path).iter_batches(batch_size=50_000), out)


def read_ids(path: Path, rows: list[int]) -> dict[int, str]:
    """The transaction id (the file's :func:`id_column`) of each of these rows, by row
    number; only the two columns are read. Empty when the file has no id column; a row
    whose id is empty is left out (it is named by its row number)."""
    column = id_column(path)
    if column is None or not rows:
        return {}
    table = _dataset(path).to_table(
        columns=[ROW, column], filter=ds.field(ROW).isin(pa.array(rows, type=pa.int64()))
    )
    return {
        int(row): str(value)
        for row, value in zip(
            table.column(ROW).to_pylist(), table.column(column).to_pylist(), strict=True
        )
        if value is not None and str(value) != ""
    }
