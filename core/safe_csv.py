"""Spreadsheet-safe CSV: text cells a spreadsheet would run as a formula are neutralised
(the OWASP CSV-injection rule). The batch page's CSV downloads are written with it; the
CLI's output and the Parquet downloads keep every value as it was (README, "Batch").
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from core.errors import OutputError
from core.output import replace_when_done

FORMULA_START = r"^[=+\-@\t\r]"
"""What a spreadsheet reads a cell as a formula by (the OWASP CSV-injection rule)."""
PLAIN_NUMBER = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"
"""A text cell that is only a number: a spreadsheet reads it as that number, never as a
formula, so it is left as it is (a fixed rejected row can be uploaded again)."""


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Text cells a spreadsheet would run as a formula, prefixed with ``'``.

    A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
    leading single quote, so a spreadsheet shows it instead of running it; so does such a
    column name (the header line is cells too, and passthrough names come from the
    upload). Numeric columns are untouched (``-2.0`` stays a number), and so is a text
    cell that is only a number (``-2``, ``+1.5e3``): a spreadsheet reads those as numbers,
    and a quote would make a corrected rejected row unreadable by the loader. Vectorised
    with Arrow.

    Args:
        table: the rows to write.

    Returns:
        The same table with its text columns neutralised.
    """
    for i, field in enumerate(table.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = table.column(i)
        table = table.set_column(i, field, _quote_formulas(column, field.type))
    # The header line is cells too, and its names come from the upload.
    names = _quote_formulas(pa.array(table.column_names, pa.string()), pa.string())
    return table.rename_columns(names.to_pylist())


def _quote_formulas(
    column: pa.Array | pa.ChunkedArray, text_type: pa.DataType
) -> pa.Array | pa.ChunkedArray:
    risky = pc.and_(
        pc.match_substring_regex(column, FORMULA_START),
        pc.invert(pc.match_substring_regex(column, PLAIN_NUMBER)),
    )
    quoted = pc.binary_join_element_wise(
        pa.scalar("'", text_type), column, pa.scalar("", text_type)
    )
    return pc.if_else(risky, quoted, column)


def iter_safe_csv(batches: Iterable[pa.RecordBatch | pa.Table]) -> Iterator[bytes]:
    """Batches as spreadsheet-safe CSV (see :func:`neutralise_formulas`), one chunk of bytes
    per batch: the header with the first, every later batch cast to the first's columns.
    No rows at all give no bytes. Memory is one batch, whatever the file's size (the batch
    page streams its downloads with this).

    Raises:
        pyarrow.ArrowException: a batch cannot be written as the first one's columns.
    """
    schema: pa.Schema | None = None
    for batch in batches:
        table = neutralise_formulas(
            pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        )
        sink = pa.BufferOutputStream()
        options = pacsv.WriteOptions(include_header=schema is None)
        if schema is None:
            schema = table.schema
        pacsv.write_csv(table.cast(schema), sink, write_options=options)
        yield sink.getvalue().to_pybytes()


def write_safe_csv(batches: Iterable[pa.RecordBatch | pa.Table], out: Path) -> Path:
    """Write batches to a spreadsheet-safe CSV (see :func:`iter_safe_csv`) at ``out``, one
    batch at a time, put in place when complete (an empty file for no rows).

    Raises:
        OutputError: the file cannot be written.
    """
    with replace_when_done(out) as partial:
        try:
            with partial.open("wb") as sink:
                for chunk in iter_safe_csv(batches):
                    sink.write(chunk)
        except (OSError, pa.ArrowException) as exc:
            raise OutputError(f"cannot write {out}: {exc}") from exc
    return out


def to_safe_csv_bytes(frame: pd.DataFrame) -> bytes:
    """A small frame (rejected rows on screen) as spreadsheet-safe CSV bytes; object
    columns are written as text."""
    text = frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})
    return b"".join(iter_safe_csv([pa.Table.from_pandas(text, preserve_index=False)]))
