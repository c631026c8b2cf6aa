"""Load a transactions CSV, validating every cell in one vectorised pass.

The loader never drops a row silently: every data line ends up either in ``valid`` or in
``rejected`` (with its 1-based row number, the column(s) at fault and why), so
``len(valid) + len(rejected) == rows_in`` always holds. Row numbers are the file's lines
after the header (row 0), blank lines included: a blank line is a rejected row. Files larger
than memory are read in chunks with :func:`iter_transactions`.
"""

from __future__ import annotations

import csv
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from core.data.labels import check_scoring_labels
from core.errors import InputError
from core.schema import FEATURES, LABEL, NON_NEGATIVE, ROW, is_known_column

log = logging.getLogger(__name__)

Source = str | Path | BinaryIO
DEFAULT_CHUNK_ROWS = 50_000
_SNIFF_BYTES = 64 * 1024
_DELIMITERS = (",", ";", "\t", "|")
# Spare column slots so that a row with a few fields too many is reported as a bad row
# instead of aborting the C parser. A row with more extra fields than slots makes the parser
# stop; the read then restarts at the current chunk with enough slots for it (rare, cheap).
_SPARE_FIELDS = 4
_SPARE_PREFIX = "__extra_field_"
_FIELDS_SEEN = re.compile(r"Expected \d+ fields in line \d+, saw (\d+)")


@dataclass
class LoadResult:
    """What a load produced. Row numbers are 1-based data rows (the header is row 0).

    Attributes:
        valid: rows that passed, indexed by row number, columns in the file's order: the
            features as float64, ``Class`` when the file has it, passthrough columns as
            text.
        rejected: one line per rejected row: ``row``, ``column``, ``reason`` and the row's
            original values, so it can be fixed and loaded again.
        rows_in: data rows read from the file.
        passthrough: extra columns kept alongside but never fed to the model.
        has_label: whether the file has a ``Class`` column.
        warnings: notes worth showing that are not row errors, e.g. rows kept for scoring
            whose optional ``Class`` value is bad or empty (that label is set to NaN).
        invalid_labels: for a file to be scored with a ``Class`` column, the text of the
            labels of ``valid`` rows that are neither 0, 1 nor empty (``'x'``, ``'2'``,
            ``'-1'``), indexed by row number, so they can be shown; None otherwise.
    """

    valid: pd.DataFrame
    rejected: pd.DataFrame
    rows_in: int
    passthrough: list[str] = field(default_factory=list)
    has_label: bool = False
    warnings: list[str] = field(default_factory=list)
    invalid_labels: pd.Series | None = None

    @property
    def accounted(self) -> bool:
        return len(self.valid) + len(self.rejected) == self.rows_in


@dataclass(frozen=True)
class _Layout:
    delimiter: str
    columns: list[str]


def _open_binary(source: Source) -> BinaryIO:
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"{path}: no such file")
        return path.open("rb")
    source.seek(0)
    return source


def _inspect_header(source: Source) -> _Layout:
    """Read the head of the file: reject non-text, find the delimiter, check the header."""
    stream = _open_binary(source)
    try:
        head = stream.read(_SNIFF_BYTES)
    finally:
        if isinstance(source, str | Path):
            stream.close()
        else:
            stream.seek(0)
    if not head.strip():
        raise InputError("the file is empty: expected a header row and at least one data row")
    if b"\x00" in head:
        raise InputError(
            "this is not a CSV text file (it holds binary data: an Excel workbook, zip or "
            "image?); export it as CSV (UTF-8) and upload that"
        )
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # A UTF-8 character is at most 4 bytes: one cut by the sniff window starts in its
        # last 3 bytes. A bad byte before them is a real error, named here.
        if exc.start < len(head) - 3:
            raise InputError(
                f"the file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"
            ) from exc
        text = head[: exc.start].decode("utf-8-sig")
    lines = text.splitlines()
    header_line = lines[0]
    delimiter = max(_DELIMITERS, key=header_line.count)
    columns = [c.strip() for c in next(csv.reader([header_line], delimiter=delimiter))]
    _check_columns(columns)
    if not any(line.strip() for line in lines[1:]) and len(head) < _SNIFF_BYTES:
        raise InputError("the file has a header but no data rows")
    return _Layout(delimiter=delimiter, columns=columns)


def _check_columns(columns: list[str]) -> None:
    counts = Counter(columns)
    duplicated = [name for name, n in counts.items() if n > 1]
    if duplicated:
        positions = {
            name: [str(i + 1) for i, c in enumerate(columns) if c == name] for name in duplicated
        }
        where = "; ".join(f"{name!r} at columns {', '.join(at)}" for name, at in positions.items())
        raise InputError(f"duplicated header names (each column needs a unique name): {where}")
    if "" in counts:
        raise InputError(f"column {columns.index('') + 1} has an empty header name")
    missing = [name for name in FEATURES if name not in counts]
    if missing:
        shown = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
        raise InputError(
            f"missing required columns: {', '.join(missing)} (found: {shown}). "
            "Expected a CSV with a header row naming Time, V1..V28 and Amount."
        )


def iter_transactions(
    source: Source,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    require_label: bool = False,
) -> Iterator[LoadResult]:
    """Validate a transactions CSV chunk by chunk.

    Args:
        source: a path or a binary file object (e.g. a Streamlit upload).
        chunk_rows: rows per chunk; memory use is bounded by this, not by the file size.
        require_label: fail unless the file has a ``Class`` column (training needs it).

    Yields:
        One :class:`LoadResult` per chunk, row numbers continuing across chunks.

    Raises:
        InputError: the file as a whole is unusable (empty, header only, not text, missing
            or duplicated columns, a row with far too many fields).
    """
    layout = _inspect_header(source)
    has_label = LABEL in layout.columns
    if require_label and not has_label:
        raise InputError(f"missing the label column {LABEL!r} (1 = fraud, 0 = legitimate)")
    passthrough = [c for c in layout.columns if not is_known_column(c)]
    spare_fields = _SPARE_FIELDS
    offset = 0
    while True:
        stream = _open_binary(source)
        try:
            reader = pd.read_csv(
                stream,
                sep=layout.delimiter,
                header=None,
                skiprows=1 + offset,  # the header, then the rows already yielded
                names=[*layout.columns, *(f"{_SPARE_PREFIX}{i}" for i in range(spare_fields))],
                index_col=False,
                dtype={c: str for c in passthrough},
                encoding="utf-8-sig",
                chunksize=chunk_rows,
                skipinitialspace=True,
                skip_blank_lines=False,  # blank lines keep their row numbers and are reported
            )
            for chunk in reader:
                chunk.index = pd.RangeIndex(offset + 1, offset + 1 + len(chunk), name=ROW)
                offset += len(chunk)
                yield _validate_chunk(chunk, layout, passthrough, has_label, require_label)
            break
        except pd.errors.ParserError as exc:
            seen = _FIELDS_SEEN.search(str(exc))
            if seen is None or int(seen[1]) <= len(layout.columns) + spare_fields:
                raise InputError(
                    f"the file could not be parsed as CSV after data row {offset}: {exc}"
                ) from exc
            spare_fields = max(int(seen[1]) - len(layout.columns), 2 * spare_fields)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"the file is not UTF-8 text after data row {offset}; save it as CSV UTF-8"
            ) from exc
        finally:
            if isinstance(source, str | Path):
                stream.close()
    if offset == 0:
        raise InputError("the file has a header but no data rows")


def load_transactions(
    source: Source, *, chunk_rows: int = DEFAULT_CHUNK_ROWS, require_label: bool = False
) -> LoadResult:
    """Load and validate a whole transactions CSV into memory.

    See :func:`iter_transactions` for the arguments and errors.
    """
    parts = list(iter_transactions(source, chunk_rows=chunk_rows, require_label=require_label))
    first = parts[0]
    return LoadResult(
        valid=pd.concat([p.valid for p in parts]) if len(parts) > 1 else first.valid,
        rejected=pd.concat([p.rejected for p in parts], ignore_index=True)
        if len(parts) > 1
        else first.rejected,
        rows_in=sum(p.rows_in for p in parts),
        passthrough=first.passthrough,
        has_label=first.has_label,
        warnings=merge_warnings(p.warnings for p in parts),
        invalid_labels=None
        if first.invalid_labels is None
        else pd.concat([p.invalid_labels for p in parts if p.invalid_labels is not None]),
    )


def merge_warnings(per_chunk: Iterable[Iterable[str]]) -> list[str]:
    """The warnings of several chunks, each distinct one once, in order of appearance."""
    return list(dict.fromkeys(w for warnings in per_chunk for w in warnings))


def validate_records(records: pd.DataFrame) -> LoadResult:
    """Validate records that did not come from a file (a form, pasted text, a JSON body).

    Args:
        records: one row per transaction; cells may be numbers or text. The index is kept
            as the row number.

    Returns:
        The same split into valid and rejected rows as :func:`load_transactions` gives
        (a bad optional ``Class`` is a warning, as when scoring a file).

    Raises:
        InputError: missing or duplicated columns.
    """
    columns = [str(c) for c in records.columns]
    _check_columns(columns)
    passthrough = [c for c in columns if not is_known_column(c)]
    frame = records.rename_axis(ROW)
    frame.columns = columns
    return _validate_chunk(frame, _Layout(",", columns), passthrough, LABEL in columns, False)


def _validate_chunk(
    chunk: pd.DataFrame,
    layout: _Layout,
    passthrough: list[str],
    has_label: bool,
    require_label: bool,
) -> LoadResult:
    problems: list[pd.DataFrame] = []
    # A blank line has no value at all; only rows without a first value can be one.
    blank = chunk.iloc[:, 0].isna()
    if blank.any():
        blank[blank] = chunk.loc[blank].isna().all(axis=1)
    spare = [c for c in chunk.columns if c.startswith(_SPARE_PREFIX)]
    filled = chunk[spare].notna().to_numpy()
    # Fields up to the last non-empty one: trailing empty fields (a trailing delimiter) are
    # invisible to the parser, so they are not counted.
    # Records that did not come from a file (validate_records) have no spare columns.
    last_filled = np.argmax(filled[:, ::-1], axis=1) if spare else 0
    extra_fields = pd.Series(
        np.where(filled.any(axis=1), len(spare) - last_filled, 0), index=chunk.index
    )
    too_many = extra_fields > 0
    if too_many.any():
        n = len(layout.columns)
        reasons = (n + extra_fields[too_many]).astype(str) + f" fields; the header has {n}"
        problems.append(_problems(too_many, "(row)", reasons))

    valid_frame = pd.DataFrame(
        {c: _check_numeric(chunk[c], c, layout.delimiter, problems) for c in FEATURES},
        index=chunk.index,
    )
    warnings: list[str] = []
    invalid_labels = None
    if has_label:
        # Training needs every label; a file to be scored does not, so there a bad label
        # is a warning and the row is still scored (with its label set to NaN).
        label_problems = problems if require_label else []
        labels = _check_numeric(chunk[LABEL], LABEL, layout.delimiter, label_problems)
        if not require_label:
            # A row rejected for another reason is not scored: the warning is not about it.
            not_scored = chunk.index[blank.to_numpy()]
            if problems:
                not_scored = not_scored.union(pd.concat(problems).index)
            checked = check_scoring_labels(
                chunk[LABEL], labels, label_problems, not_scored=not_scored
            )
            labels, invalid_labels = checked.labels, checked.invalid
            if checked.warning is not None:
                warnings.append(checked.warning)
        valid_frame[LABEL] = labels
    for column in passthrough:
        valid_frame[column] = chunk[column]
    # In the file's own column order, so a scored file lines up with the one uploaded (the
    # scores come after it).
    ordered = [c for c in layout.columns if c in valid_frame.columns]
    if list(valid_frame.columns) != ordered:
        valid_frame = valid_frame[
            [*ordered, *(c for c in valid_frame.columns if c not in set(ordered))]
        ]

    if blank.any():
        problems = [p[~p.index.isin(chunk.index[blank.to_numpy()])] for p in problems]
        problems.append(_problems(blank, "(row)", "blank line, no values"))
    if problems:
        found = pd.concat(problems)
        by_row = found.groupby(level=0).agg(
            column=("column", lambda s: ", ".join(dict.fromkeys(s))),
            reason=("reason", "; ".join),
        )
        original = chunk.loc[by_row.index, layout.columns]
        rejected = pd.concat([by_row, original], axis=1).rename_axis(ROW).reset_index()
        valid = valid_frame.drop(index=by_row.index)
    else:
        rejected = pd.DataFrame(columns=[ROW, "column", "reason", *layout.columns])
        valid = valid_frame
    if passthrough:
        warnings.insert(
            0, f"extra columns kept as passthrough, not fed to the model: {', '.join(passthrough)}"
        )
    return LoadResult(
        valid=valid,
        rejected=rejected,
        rows_in=len(chunk),
        passthrough=passthrough,
        has_label=has_label,
        warnings=warnings,
        invalid_labels=invalid_labels,
    )


def _check_numeric(
    raw: pd.Series, column: str, delimiter: str, problems: list[pd.DataFrame]
) -> pd.Series:
    """Convert one column to float64, appending a problem frame per failing check.

    Clean columns arrive from the C parser as float64 already, so the string work below
    only runs on columns that hold at least one non-number.
    """
    missing = raw.isna()
    if pd.api.types.is_numeric_dtype(raw.dtype):
        values = raw.astype(np.float64)
    else:
        text = raw.astype("string").str.strip()
        if delimiter == ";":  # European files: ';' between fields, ',' as the decimal mark
            text = text.str.replace(",", ".", regex=False)
        values = pd.to_numeric(text, errors="coerce").astype(np.float64)
        not_number = values.isna() & ~missing
        if not_number.any():
            quoted = "'" + raw[not_number].astype(str) + "' is not a number"
            problems.append(_problems(not_number, column, quoted))
    if missing.any():
        problems.append(_problems(missing, column, "empty value; expected a number"))
    infinite = np.isinf(values)
    if infinite.any():
        problems.append(_problems(infinite, column, "infinite value; expected a finite number"))
    if column in NON_NEGATIVE:
        negative = values < 0
        if negative.any():
            text = values[negative].map("{:g} is negative; expected >= 0".format)
            problems.append(_problems(negative, column, text))
    if column == LABEL:
        bad_label = values.notna() & ~np.isinf(values) & ~values.isin([0.0, 1.0])
        if bad_label.any():
            text = values[bad_label].map("{:g} is not a label; expected 0 or 1".format)
            problems.append(_problems(bad_label, column, text))
    return values


def _problems(mask: pd.Series, column: str, reason: str | pd.Series) -> pd.DataFrame:
    """One problem per masked row: the column and a reason that names it."""
    index = mask.index[mask.to_numpy()]
    text = reason if isinstance(reason, str) else reason.to_numpy().astype(str)
    reasons = column + ": " + pd.Series(text, index=index, dtype="string")
    return pd.DataFrame({"column": column, "reason": reasons}, index=index)
