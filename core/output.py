"""Writing scored and rejected rows: streamed CSV for the CLI, bytes for downloads.

pyarrow writes CSV about 10x faster than pandas' ``to_csv`` on wide float frames.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


class CsvSink:
    """Scored and rejected rows streamed to CSV with pyarrow (pandas' writer is ~10x slower)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.rejected_path = rejected_path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        self.rejected_path.unlink(missing_ok=True)
        self._writer: pacsv.CSVWriter | None = None
        self._schema: pa.Schema | None = None
        self._rejected_header = False

    def write(self, frame: pd.DataFrame, rejected: pd.DataFrame) -> None:
        self._write_rejected(rejected)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pacsv.CSVWriter(str(self.out), self._schema)
        self._writer.write_table(table.cast(self._schema))

    def _write_rejected(self, rejected: pd.DataFrame) -> None:
        if rejected.empty:
            return
        rejected.astype("string").to_csv(
            self.rejected_path, mode="a", header=not self._rejected_header, index=False
        )
        self._rejected_header = True

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


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
