"""Loader edges found by mutation testing: the 64 KiB sniff window and its boundaries, the
end of the read, chunking, blank lines and records that did not come from a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data import load_transactions, validate_records
from core.errors import InputError
from core.schema import FEATURES
from tests.test_loader import HEADER, _csv, _row

WINDOW = 64 * 1024  # bytes the loader reads to check the header and the encoding
CLEF = "\N{MUSICAL SYMBOL G CLEF}".encode()  # four bytes in UTF-8


def _with_bytes_at(at: int, inserted: bytes) -> bytes:
    """A valid file whose last row's passthrough note has ``inserted`` starting at byte
    ``at`` of the file, with more good rows after it."""
    rows = [f"{_row(i)},ok" for i in range(1, 200)]  # about 40 KiB
    body = ("\n".join([f"{HEADER},note", *rows]) + "\n").encode()
    prefix = f"{_row(200)},".encode()
    pad = at - len(body) - len(prefix)
    assert pad > 0  # the test's own arithmetic, not the loader's
    after = "".join(f"{_row(i)},ok\n" for i in range(201, 204)).encode()
    data = body + prefix + b"n" * pad + inserted + b"\n" + after
    assert data.index(inserted) == at
    return data


@pytest.mark.parametrize("at", [WINDOW - 4, WINDOW - 3, WINDOW - 2, WINDOW - 1])
def test_a_character_cut_by_the_window_is_not_an_error(tmp_path: Path, at: int) -> None:
    # At WINDOW - 4 the character is whole in the window; after it, 3, 2 or 1 of its bytes are.
    result = load_transactions(_csv(tmp_path, _with_bytes_at(at, CLEF)))
    assert result.rows_in == 203 and len(result.valid) == 203
    assert result.valid.loc[200, "note"].endswith(CLEF.decode())


@pytest.mark.parametrize("at", [20_000, WINDOW - 5, WINDOW - 4])
def test_a_bad_byte_in_the_window_is_named(tmp_path: Path, at: int) -> None:
    # Four bytes left in the window are enough for any UTF-8 character, so a bad byte at
    # WINDOW - 4 cannot be a character cut by the window: it is named like any other.
    good = _with_bytes_at(WINDOW - 8, b"~")
    data = good[:at] + b"\xff" + good[at + 1 :]
    with pytest.raises(InputError, match=rf"^the file is not UTF-8 text \(byte {at}\); "):
        load_transactions(_csv(tmp_path, data))


def test_data_after_a_window_of_blank_lines_is_found(tmp_path: Path) -> None:
    blank = WINDOW  # blank lines fill the whole window after the header
    text = HEADER + "\n" + "\n" * blank + _row(1) + "\n"
    result = load_transactions(_csv(tmp_path, text))
    assert result.rows_in == blank + 1
    assert result.valid.index.tolist() == [blank + 1]
    assert len(result.rejected) == blank
    assert set(result.rejected["reason"]) == {"(row): blank line, no values"}


def test_a_short_file_of_blank_lines_has_no_data_rows(tmp_path: Path) -> None:
    text = HEADER + "\n" + "\n" * (WINDOW - len(HEADER) - 2)  # one byte short of the window
    assert len(text) == WINDOW - 1
    with pytest.raises(InputError, match=r"^the file has a header but no data rows$"):
        load_transactions(_csv(tmp_path, text))


@pytest.mark.parametrize("separator", ["\u2028", "\x85"])
def test_a_line_break_csv_does_not_know_leaves_no_data_rows(tmp_path: Path, separator: str) -> None:
    # Python splits lines at U+2028 and NEL, so the header check sees a data row; CSV does
    # not, so the reader finds none after the header: an error, not an empty result.
    with pytest.raises(InputError, match=r"^the file has a header but no data rows$"):
        load_transactions(_csv(tmp_path, HEADER + separator + _row(1)))


def test_an_unclosed_quote_is_a_parse_error_naming_where(tmp_path: Path) -> None:
    lines = [HEADER, _row(1), _row(2), '"' + _row(3), _row(4)]
    with pytest.raises(
        InputError,
        match=r"^the file could not be parsed as CSV after data row 2: .*EOF inside string",
    ):
        load_transactions(_csv(tmp_path, "\n".join(lines)), chunk_rows=2)


def test_two_chunks_are_loaded_whole(tmp_path: Path) -> None:
    lines = [HEADER, _row(1), _row(2), _row(3, V4="x"), _row(4)]
    result = load_transactions(_csv(tmp_path, "\n".join(lines)), chunk_rows=2)
    assert result.valid.index.tolist() == [1, 2, 4]
    assert result.rejected["row"].tolist() == [3]
    assert result.rows_in == 4


def test_a_blank_line_and_a_row_without_its_first_value(tmp_path: Path) -> None:
    lines = [HEADER, "", _row(2, Time=""), _row(3)]
    result = load_transactions(_csv(tmp_path, "\n".join(lines)))
    assert result.valid.index.tolist() == [3]
    assert result.rejected[["row", "column", "reason"]].values.tolist() == [
        [1, "(row)", "(row): blank line, no values"],
        [2, "Time", "Time: empty value; expected a number"],
    ]


def test_validate_records_keeps_passthrough_the_label_and_names_the_index() -> None:
    good = {name: str(float(i)) for i, name in enumerate(FEATURES)}  # text, as from a form
    records = pd.DataFrame(
        [{**good, "Class": "1", "txn": "007"}, {**good, "Class": "x", "txn": "008"}],
        index=[5, 6],  # no index name: the result's is "row" all the same
    )
    result = validate_records(records)
    assert result.passthrough == ["txn"] and result.has_label
    assert result.valid.index.tolist() == [5, 6] and result.valid.index.name == "row"
    assert result.valid["V4"].tolist() == [4.0, 4.0] and result.valid["V4"].dtype == np.float64
    assert result.valid["txn"].tolist() == ["007", "008"]
    # a bad optional label is a warning, as when scoring a file: the row is kept
    assert result.valid["Class"].tolist()[0] == 1.0 and np.isnan(result.valid["Class"].iloc[1])
    assert len(result.rejected) == 0
    assert result.warnings == [
        "extra columns kept as passthrough, not fed to the model: txn",
        "Class: 1 row(s) with a bad or empty label were scored and their label ignored "
        "(row 6: 'x' is not a number)",
    ]
