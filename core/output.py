"""Writing scored and rejected rows: streamed CSV for the CLI, Parquet for the batch
page's on-disk results, spreadsheet-safe CSV for the page's downloads.

pyarrow writes CSV about 10x faster than pandas' ``to_csv`` on wide float frames.

Result files are written safely: the destination is checked before anything is written
(its folder must exist, and it must not be the input), and the rows go to a temporary
file in the same folder that is renamed over the destination only when the run is
complete. A failed run leaves no half-written file, and a previous good one stays intact.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from core.errors import InputError, OutputError


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: through symlinks, ``..`` and hard links."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare where they would be
        return a.resolve() == b.resolve()


def check_output(out: Path, *, source: Path | None = None) -> None:
    """Refuse a destination that would destroy the input or that cannot be made.

    Checked before anything is written. The folder is never created: a typo in it should
    be an error, not a new folder somewhere unexpected.

    Args:
        out: the scored file to write (rejected rows go to :func:`rejected_path`).
        source: the input file, when it is a file.

    Raises:
        InputError: ``out``'s folder does not exist (or is not a folder); or ``out``, or
            its rejected file, is the input or the input's rejected file.
    """
    if not out.name or out.name in (".", ".."):
        raise InputError(f"cannot write {out}: name a file, not a folder")
    if out.is_dir():
        raise InputError(f"cannot write {out}: it is a folder; name a file inside it")
    folder = out.parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise InputError(f"cannot write {out}: the folder {folder} {what}")
    if source is None:
        return
    clashes = [
        (out, source, "is the input file"),
        (out, rejected_path(source), "is the input's rejected-rows file"),
        (rejected_path(out), source, "would put rejected rows over the input file"),
    ]
    for a, b, why in clashes:
        if _same_file(a, b):
            raise InputError(f"--out {out} {why} ({source}); choose another name")


@contextmanager
def replace_when_done(path: Path) -> Iterator[Path]:
    """A temporary path in ``path``'s folder, renamed to ``path`` when the block succeeds.

    The rename is atomic on one file system, so ``path`` is either the previous file or
    the complete new one, never a half-written one. On failure the temporary file is
    removed and ``path`` is untouched.

    Raises:
        OutputError: the temporary file cannot be made or renamed into place.
    """
    partial = _partial_path(path)
    try:
        yield partial
        _commit(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _partial_path(path: Path) -> Path:
    """A new, unique, hidden name next to ``path`` (same folder, so a rename is atomic)."""
    try:
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc
    os.close(handle)
    return Path(name)


def _commit(partial: Path, path: Path) -> None:
    try:
        os.chmod(partial, 0o666 & ~_umask())  # mkstemp makes 0600; a result file is not secret
        os.replace(partial, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc}") from exc


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
"""Read once, at import: ``os.umask`` can only be read by setting it, and the app's
server threads (one per browser session) would create files and folders with no mask
(world-writable) in the moment it is 0."""


def _umask() -> int:
    return _UMASK


class CsvSink:
    """Scored and rejected rows streamed to CSV files by a writer thread.

    pyarrow formats and writes with the GIL released (and about 10x faster than pandas'
    ``to_csv`` on wide float frames), so writing one chunk overlaps with parsing and scoring
    the next. At most two chunks wait in the queue, which bounds memory. A failure to write
    (a full disk, a read-only folder) is raised by the next :meth:`write` or by
    :meth:`close` as an :class:`OutputError` naming the file.

    Rows go to temporary files next to ``out``; :meth:`close` renames them into place
    only for a complete run (``keep=True``), so a failed run never leaves a half-written
    file that looks complete, nor destroys a previous good one.

    Raises:
        InputError: from the constructor, see :func:`check_output`.
    """

    _QUEUE_CHUNKS = 2

    def __init__(self, out: Path, *, source: Path | None = None) -> None:
        check_output(out, source=source)
        self.out = out
        self.rejected_path = rejected_path(out)
        self._scored_partial = _partial_path(out)
        try:
            self._rejected_partial = _partial_path(self.rejected_path)
        except OutputError:
            self._scored_partial.unlink(missing_ok=True)
            raise
        self._writer: pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None
        self._rejected_header = False
        self._error: OutputError | None = None
        self._queue: queue.Queue[tuple[pd.DataFrame, pd.DataFrame] | None] = queue.Queue(
            maxsize=self._QUEUE_CHUNKS
        )
        self._thread = threading.Thread(target=self._run, name="csv-writer", daemon=True)
        self._thread.start()

    def write(self, frame: pd.DataFrame, rejected: pd.DataFrame) -> None:
        """Queue one chunk: ``frame`` to ``out``, ``rejected`` to ``out.rejected.csv``."""
        self._raise_if_failed()
        self._queue.put((frame, rejected))

    def close(self, *, keep: bool = True) -> None:
        """Write what is queued, close the files, and put them in place.

        Args:
            keep: the run is complete: rename the files into place (a previous rejected
                file is removed when this run rejected nothing). ``False`` throws the
                partial files away and leaves any previous files untouched.

        Raises:
            OutputError: a write or the final rename failed; nothing was put in place.
        """
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        try:
            self._raise_if_failed()
            if keep:
                # The scored file first: if it cannot be put in place, a previous rejected
                # file is left as it was.
                _commit(self._scored_partial, self.out)
                if self._rejected_header:
                    _commit(self._rejected_partial, self.rejected_path)
                else:
                    self._remove_stale_rejected()
        finally:
            self._scored_partial.unlink(missing_ok=True)
            self._rejected_partial.unlink(missing_ok=True)

    def _remove_stale_rejected(self) -> None:
        """An old OUT.rejected.csv beside a new OUT.csv would describe another run."""
        try:
            self.rejected_path.unlink(missing_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot remove the old {self.rejected_path}: {exc}") from exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        path = self.out
        try:
            while (item := self._queue.get()) is not None:
                frame, rejected = item
                path = self.rejected_path
                self._write_rejected(rejected)
                path = self.out
                self._write_scored(frame)
        except Exception as exc:  # the caller sees it on its next write() or close()
            self._error = OutputError(f"cannot write {path}: {exc}")
            self._error.__cause__ = exc
            while self._queue.get() is not None:  # keep the caller from blocking
                pass
        finally:
            if self._writer is not None:
                self._writer.close()

    def _write_scored(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pacsv.CSVWriter(str(self._scored_partial), self._schema)
        self._writer.write_table(table.cast(self._schema))

    def _write_rejected(self, rejected: pd.DataFrame) -> None:
        if rejected.empty:
            return
        rejected.astype("string").to_csv(
            self._rejected_partial, mode="a", header=not self._rejected_header, index=False
        )
        self._rejected_header = True


def rejected_path(out: Path) -> Path:
    """``OUT.csv`` -> ``OUT.rejected.csv``."""
    return out.with_name(f"{out.stem}.rejected{out.suffix or '.csv'}")


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """A frame as CSV bytes, written by pyarrow (fast on large frames)."""
    buffer = pa.BufferOutputStream()
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue().to_pybytes()


def to_parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return buffer.getvalue().to_pybytes()


# --------------------------------------------------------------------------- Parquet


class ParquetSink:
    """Scored rows to ``out`` and rejected rows to ``<out>.rejected.parquet``, chunk by chunk.

    The same interface as :class:`CsvSink` (``write``, ``close(keep=)``), written in the
    caller's thread: the batch page scores into it, and reads the file back a few columns
    at a time, so no frame of the whole file is ever held in memory. Every chunk is cast
    to the first chunk's schema (a text column that was all empty in the first chunk is
    typed as text). Rejected rows keep their raw text: every column but ``row`` is text.
    """

    def __init__(self, out: Path) -> None:
        check_output(out)
        self.out = out
        self.rejected_path = out.with_name(f"{out.stem}.rejected.parquet")
        self._writers: dict[Path, pq.ParquetWriter] = {}
        self._partials: dict[Path, Path] = {}

    def write(self, frame: pd.DataFrame, rejected: pd.DataFrame) -> None:
        """Append one chunk: ``frame`` to ``out``, ``rejected`` (if any) beside it."""
        try:
            self._append(self.out, pa.Table.from_pandas(frame, preserve_index=False))
            if not rejected.empty:
                text = rejected.astype({c: "string" for c in rejected.columns if c != "row"})
                self._append(self.rejected_path, pa.Table.from_pandas(text, preserve_index=False))
        except (OSError, pa.ArrowException) as exc:
            raise OutputError(f"cannot write {self.out}: {exc}") from exc

    def close(self, *, keep: bool = True) -> None:
        """Close the files; put them in place for a complete run (``keep``), else drop them."""
        try:
            for writer in self._writers.values():
                writer.close()
            if keep:
                for path, partial in self._partials.items():
                    _commit(partial, path)
        finally:
            for partial in self._partials.values():
                partial.unlink(missing_ok=True)

    def _append(self, path: Path, table: pa.Table) -> None:
        writer = self._writers.get(path)
        if writer is None:
            schema = pa.schema(
                [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
            )
            self._partials[path] = _partial_path(path)
            writer = self._writers[path] = pq.ParquetWriter(self._partials[path], schema)
        writer.write_table(table.cast(writer.schema))
