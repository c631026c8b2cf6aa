"""Every class of bad input the loader must handle, and the accounting it must keep."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.data import iter_transactions, load_transactions
from core.errors import InputError
from core.schema import FEATURES

HEADER = ",".join([*FEATURES, "Class"])


def _row(i: int, **overrides: str) -> str:
    values = {name: f"{0.1 * (j + 1) + i:.3f}" for j, name in enumerate(FEATURES)}
    values["Time"] = str(10 * i)
    values["Amount"] = f"{12.5 + i:.2f}"
    values["Class"] = str(i % 2)
    values.update(overrides)
    return ",".join(values[name] for name in [*FEATURES, "Class"])


def _csv(tmp_path: Path, text: str | bytes, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def _good(n: int) -> str:
    return "\n".join([HEADER, *(_row(i) for i in range(1, n + 1))]) + "\n"


def test_clean_file_loads_every_row_as_float(tmp_path: Path) -> None:
    result = load_transactions(_csv(tmp_path, _good(5)))
    assert (result.rows_in, len(result.valid), len(result.rejected)) == (5, 5, 0)
    assert result.valid.index.tolist() == [1, 2, 3, 4, 5]
    assert all(result.valid[name].dtype == np.float64 for name in FEATURES)
    assert result.has_label and result.accounted


def test_missing_required_columns_are_named(tmp_path: Path) -> None:
    text = _good(2).replace(",V4,", ",V4x,").replace(",Amount,", ",Amt,")
    with pytest.raises(InputError, match=r"missing required columns: V4, Amount"):
        load_transactions(_csv(tmp_path, text))


def test_unknown_columns_are_kept_as_passthrough(tmp_path: Path) -> None:
    lines = _good(3).splitlines()
    text = "\n".join([lines[0] + ",txn_id"] + [f"{line},00{i}" for i, line in enumerate(lines[1:])])
    result = load_transactions(_csv(tmp_path, text))
    assert result.passthrough == ["txn_id"]
    assert result.valid["txn_id"].tolist() == ["000", "001", "002"]  # text: zeros kept
    assert result.warnings == ["extra columns kept as passthrough, not fed to the model: txn_id"]


def test_non_numeric_cell_names_row_column_and_value(tmp_path: Path) -> None:
    text = "\n".join([HEADER, _row(1), _row(2, V4="abc"), _row(3)])
    result = load_transactions(_csv(tmp_path, text))
    assert result.valid.index.tolist() == [1, 3]
    bad = result.rejected.iloc[0]
    assert (bad["row"], bad["column"]) == (2, "V4")
    assert bad["reason"] == "V4: 'abc' is not a number"
    assert bad["V4"] == "abc"  # the original value comes back for fixing


@pytest.mark.parametrize("empty", ["", "NaN", "nan", "NA"])
def test_empty_or_nan_cells_are_rejected(tmp_path: Path, empty: str) -> None:
    text = "\n".join([HEADER, _row(1, V7=empty), _row(2)])
    result = load_transactions(_csv(tmp_path, text))
    assert result.rejected["row"].tolist() == [1]
    assert result.rejected["reason"].iloc[0] == "V7: empty value; expected a number"


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity"])
def test_infinite_values_are_rejected(tmp_path: Path, value: str) -> None:
    result = load_transactions(_csv(tmp_path, "\n".join([HEADER, _row(1, V2=value), _row(2)])))
    assert result.rejected["reason"].tolist() == ["V2: infinite value; expected a finite number"]


def test_negative_amount_is_rejected(tmp_path: Path) -> None:
    result = load_transactions(_csv(tmp_path, "\n".join([HEADER, _row(1), _row(2, Amount="-3.5")])))
    assert result.rejected[["row", "column"]].values.tolist() == [[2, "Amount"]]
    assert result.rejected["reason"].iloc[0] == "Amount: -3.5 is negative; expected >= 0"


def test_several_problems_in_one_row_are_all_reported(tmp_path: Path) -> None:
    text = "\n".join([HEADER, _row(1, V1="x", Amount="-1", Class="7")])
    result = load_transactions(_csv(tmp_path, text), require_label=True)
    assert result.rejected["column"].iloc[0] == "V1, Amount, Class"
    assert result.rejected["reason"].iloc[0] == (
        "V1: 'x' is not a number; Amount: -1 is negative; expected >= 0; "
        "Class: 7 is not a label; expected 0 or 1"
    )


def test_duplicated_header_names_are_refused(tmp_path: Path) -> None:
    text = _good(2).replace(",V9,", ",V4,", 1)
    with pytest.raises(InputError, match=r"duplicated header names.*'V4' at columns 5, 10"):
        load_transactions(_csv(tmp_path, text))


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    result = load_transactions(_csv(tmp_path, b"\xef\xbb\xbf" + _good(3).encode()))
    assert list(result.valid.columns) == [*FEATURES, "Class"]
    assert result.valid["Time"].tolist() == [10.0, 20.0, 30.0]


def test_semicolon_delimiter_with_decimal_commas(tmp_path: Path) -> None:
    rows = [line.replace(",", ";") for line in _good(3).splitlines()]
    text = "\n".join([rows[0], rows[2].replace(".", ","), rows[3]])  # one row with "14,50"
    result = load_transactions(_csv(tmp_path, text))
    assert (result.rows_in, len(result.valid)) == (2, 2)
    assert result.valid["Amount"].tolist() == [14.5, 15.5]


def test_quoted_numbers_are_numbers(tmp_path: Path) -> None:
    quoted = ",".join(f'"{v}"' for v in _row(1).split(","))
    result = load_transactions(_csv(tmp_path, "\n".join([HEADER, quoted])))
    assert len(result.valid) == 1 and result.valid["Amount"].iloc[0] == 13.5


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="the file is empty"):
        load_transactions(_csv(tmp_path, ""))


def test_header_only_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="header but no data rows"):
        load_transactions(_csv(tmp_path, HEADER + "\n"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(200), "not a CSV text file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV text file"),
        (
            b"Lorem ipsum dolor sit amet.\nNothing tabular here.\n",
            "missing required columns",
        ),
        (b"Time,V1\n\xff\xfe\xfa bad bytes " + b"x" * 50, "not UTF-8 text"),
    ],
)
def test_files_that_are_not_csv(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_transactions(_csv(tmp_path, content))


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_transactions(tmp_path / "absent.csv")


def test_short_and_long_rows_are_rejected_not_lost(tmp_path: Path) -> None:
    short = ",".join(_row(2).split(",")[:10])
    long = _row(3) + ",extra1,extra2"
    result = load_transactions(_csv(tmp_path, "\n".join([HEADER, _row(1), short, long, _row(4)])))
    assert result.valid.index.tolist() == [1, 4]
    assert result.rejected["row"].tolist() == [2, 3]
    assert "V10: empty value" in result.rejected["reason"].iloc[0]
    assert result.rejected["reason"].iloc[1] == "(row): 33 fields; the header has 31"
    assert result.accounted


def test_label_must_be_zero_or_one_and_may_be_required(tmp_path: Path) -> None:
    no_label = "\n".join(line.rsplit(",", 1)[0] for line in _good(2).splitlines())
    assert not load_transactions(_csv(tmp_path, no_label)).has_label
    with pytest.raises(InputError, match="missing the label column 'Class'"):
        load_transactions(_csv(tmp_path, no_label), require_label=True)


def test_chunks_keep_row_numbers_and_accounting(tmp_path: Path) -> None:
    lines = _good(25).splitlines()
    lines[7] = _row(7, V3="oops")  # data row 7
    lines[20] = _row(20, Amount="-2")  # data row 20
    path = _csv(tmp_path, "\n".join(lines))
    chunks = list(iter_transactions(path, chunk_rows=6))
    assert [c.rows_in for c in chunks] == [6, 6, 6, 6, 1]
    assert sum(len(c.valid) + len(c.rejected) for c in chunks) == 25
    merged = load_transactions(path, chunk_rows=6)
    assert merged.rejected["row"].tolist() == [7, 20]
    assert merged.rejected.index.tolist() == [0, 1]  # one download, numbered once
    assert merged.valid.index.name == "row"
    assert merged.valid.index.is_unique and len(merged.valid) == 23


def test_accounting_holds_on_a_mix_of_every_problem(tmp_path: Path) -> None:
    rows = [
        _row(1),
        _row(2, V1="abc"),
        _row(3, V2=""),
        _row(4, V3="inf"),
        _row(5, Amount="-1"),
        _row(6, Class="2"),
        ",".join(_row(7).split(",")[:5]),
        _row(8) + ",x",
        _row(9),
        "",
        _row(11),
    ]
    result = load_transactions(_csv(tmp_path, "\n".join([HEADER, *rows])), require_label=True)
    assert result.rows_in == 11
    assert len(result.valid) + len(result.rejected) == result.rows_in
    assert result.valid.index.tolist() == [1, 9, 11]
    assert result.rejected["row"].tolist() == [2, 3, 4, 5, 6, 7, 8, 10]


def test_file_objects_are_accepted(tmp_path: Path) -> None:
    upload = io.BytesIO(_good(4).encode())
    upload.read(10)  # a file object already read from (a re-run in the app) is rewound
    result = load_transactions(upload)
    pd.testing.assert_frame_equal(result.valid, load_transactions(_csv(tmp_path, _good(4))).valid)
    assert result.valid["Amount"].tolist() == [13.5, 14.5, 15.5, 16.5]


def test_real_sample_matches_known_facts(real_sample: Path) -> None:
    result = load_transactions(real_sample, require_label=True)
    fraud = result.valid[result.valid["Class"] == 1]
    assert (result.rows_in, len(result.rejected), len(fraud)) == (5412, 0, 492)
    assert fraud["Amount"].sum() == pytest.approx(60127.97, abs=0.01)
    assert fraud["Amount"].mean() == pytest.approx(122.2113, abs=1e-4)
    assert fraud["V14"].mean() == pytest.approx(-6.9717, abs=1e-4)


def test_large_synthetic_file_round_trips(tmp_path: Path) -> None:
    from core.data import generate_transactions

    frame = generate_transactions(3000, fraud_rate=0.01, seed=1)
    frame.to_csv(tmp_path / "big.csv", index=False)
    result = load_transactions(tmp_path / "big.csv", chunk_rows=1000)
    pd.testing.assert_frame_equal(
        result.valid.reset_index(drop=True)[list(FEATURES)], frame[list(FEATURES)], atol=1e-9
    )


@pytest.mark.parametrize("chunk_rows", [2, 50_000])
def test_blank_lines_keep_row_numbers_and_are_reported(tmp_path: Path, chunk_rows: int) -> None:
    lines = [HEADER, _row(1), "", _row(3, V4="abc"), "   ", _row(5), ",,,", "", ""]
    result = load_transactions(_csv(tmp_path, "\n".join(lines)), chunk_rows=chunk_rows)
    assert result.rows_in == 7  # the lines after the header, the blank ones included
    assert result.valid.index.tolist() == [1, 5]
    assert result.rejected["row"].tolist() == [2, 3, 4, 6, 7]
    blank = "(row): blank line, no values"
    assert result.rejected["reason"].tolist() == [
        blank,
        "V4: 'abc' is not a number",
        blank,
        blank,
        blank,
    ]
    assert result.rejected["column"].tolist() == ["(row)", "V4", "(row)", "(row)", "(row)"]


def test_rows_with_many_extra_fields_report_the_real_count(tmp_path: Path) -> None:
    lines = [
        HEADER,
        *(_row(i) for i in range(1, 4)),
        _row(4) + ",a,b,c,d,e,f",  # more extra fields than the parser's spare slots
        _row(5) + ",x" * 40,
        _row(6) + ",,y",  # an empty extra field in the middle counts
        _row(7) + ",,",  # trailing delimiters only: nothing to see, not counted
        _row(8),
    ]
    path = _csv(tmp_path, "\n".join(lines))
    for result in (load_transactions(path), load_transactions(path, chunk_rows=3)):
        assert result.rows_in == 8 and result.accounted
        assert result.valid.index.tolist() == [1, 2, 3, 7, 8]
        assert result.rejected["row"].tolist() == [4, 5, 6]
        assert result.rejected["reason"].tolist() == [
            "(row): 37 fields; the header has 31",
            "(row): 71 fields; the header has 31",
            "(row): 33 fields; the header has 31",
        ]
        assert result.rejected["V1"].tolist() == [4.2, 5.2, 6.2]  # original values kept
    chunks = list(iter_transactions(path, chunk_rows=3))
    assert [c.rows_in for c in chunks] == [3, 3, 2]
    assert [c.rejected["row"].tolist() for c in chunks] == [[], [4, 5, 6], []]


def test_bad_label_in_a_file_to_score_is_a_warning_not_a_rejection(tmp_path: Path) -> None:
    lines = [HEADER, _row(1), _row(2, Class="7"), _row(3, Class=""), _row(4, Class="abc"), _row(5)]
    path = _csv(tmp_path, "\n".join(lines))
    scored = load_transactions(path)
    assert scored.valid.index.tolist() == [1, 2, 3, 4, 5]
    assert len(scored.rejected) == 0 and scored.accounted
    assert scored.valid["Class"].tolist()[0] == 1.0 and scored.valid["Class"].tolist()[4] == 1.0
    assert scored.valid["Class"].iloc[1:4].isna().all()  # the bad labels are not kept
    assert scored.warnings == [
        "Class: 3 row(s) with a bad or empty label were scored and their label ignored "
        "(row 2: 7 is not a label; expected 0 or 1; row 3: empty value; expected a number; "
        "row 4: 'abc' is not a number)"
    ]
    training = load_transactions(path, require_label=True)
    assert training.valid.index.tolist() == [1, 5]
    assert training.rejected["row"].tolist() == [2, 3, 4]
    assert training.rejected["column"].tolist() == ["Class"] * 3
    assert training.warnings == []


def test_label_warning_leaves_out_rows_rejected_for_another_reason(tmp_path: Path) -> None:
    # Row 2 is rejected (V4 is not a number) and row 3 is short (no Amount, no Class):
    # neither was scored, so the warning "were scored and their label ignored" must not
    # name them; only row 4 (scored, label 2) is such a row.
    short = ",".join(_row(3).split(",")[:5])
    lines = [HEADER, _row(1), _row(2, V4="abc", Class=""), short, _row(4, Class="2")]
    result = load_transactions(_csv(tmp_path, "\n".join(lines)))
    assert result.valid.index.tolist() == [1, 4]
    assert result.rejected["row"].tolist() == [2, 3]
    assert result.warnings == [
        "Class: 1 row(s) with a bad or empty label were scored and their label ignored "
        "(row 4: 2 is not a label; expected 0 or 1)"
    ]


def test_label_warnings_are_per_chunk_and_name_a_few_rows(tmp_path: Path) -> None:
    lines = [HEADER, *(_row(i, Class="x") for i in range(1, 9)), "", ""]
    result = load_transactions(_csv(tmp_path, "\n".join(lines)), chunk_rows=7)
    assert result.rejected["row"].tolist() == [9]  # the blank line; no label warning for it
    assert result.warnings == [
        "Class: 7 row(s) with a bad or empty label were scored and their label ignored "
        "(row 1: 'x' is not a number; row 2: 'x' is not a number; row 3: 'x' is not a number; "
        "row 4: 'x' is not a number; row 5: 'x' is not a number; ... 2 more)",
        "Class: 1 row(s) with a bad or empty label were scored and their label ignored "
        "(row 8: 'x' is not a number)",
    ]


def test_space_after_a_delimiter_is_ignored(tmp_path: Path) -> None:
    values = _row(1).split(",")
    values[-2] = ' "13.5"'  # a quoted Amount after a space, as some exports write
    text = "\n".join([HEADER + ",txn_id", ", ".join(values) + ", 007"])
    result = load_transactions(_csv(tmp_path, text))
    assert result.valid["Amount"].tolist() == [13.5]
    assert result.valid["txn_id"].tolist() == ["007"]


def test_label_warning_with_exactly_the_shown_number_of_rows(tmp_path: Path) -> None:
    lines = [HEADER, *(_row(i, Class="2") for i in range(1, 6))]
    result = load_transactions(_csv(tmp_path, "\n".join(lines)))
    assert result.warnings == [
        "Class: 5 row(s) with a bad or empty label were scored and their label ignored "
        + "("
        + "; ".join(f"row {i}: 2 is not a label; expected 0 or 1" for i in range(1, 6))
        + ")"
    ]


def test_iter_transactions_scores_rows_with_a_bad_label_by_default(tmp_path: Path) -> None:
    path = _csv(tmp_path, "\n".join([HEADER, _row(1, Class="x"), _row(2)]))
    (chunk,) = iter_transactions(path)
    assert chunk.valid.index.tolist() == [1, 2] and len(chunk.rejected) == 0
    assert chunk.warnings[0].startswith("Class: 1 row(s) with a bad or empty label")


def test_header_messages_in_full(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^column 3 has an empty header name$"):
        load_transactions(_csv(tmp_path, _good(2).replace(",V2,", ",,", 1)))
    nine = "a,b,c,d,e,f,g,h,i\n1,2,3,4,5,6,7,8,9\n"
    listed = ", ".join(FEATURES)
    with pytest.raises(InputError) as caught:
        load_transactions(_csv(tmp_path, nine))
    assert str(caught.value) == (
        f"missing required columns: {listed} (found: a, b, c, d, e, f, g, h, ...). "
        "Expected a CSV with a header row naming Time, V1..V28 and Amount."
    )
    with pytest.raises(InputError, match=r"\(found: a, b, c, d, e, f, g, h\)\. Expected"):
        load_transactions(_csv(tmp_path, "a,b,c,d,e,f,g,h\n1,2,3,4,5,6,7,8\n"))
    twice = _good(2).replace(",V9,", ",V4,", 1).replace(",V10,", ",V5,", 1)
    with pytest.raises(
        InputError,
        match=r"^duplicated header names \(each column needs a unique name\): "
        r"'V4' at columns 5, 10; 'V5' at columns 6, 11$",
    ):
        load_transactions(_csv(tmp_path, twice))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty: expected a header row and at least one data row"),
        (
            b"PK\x03\x04\x00" + bytes(20),
            "this is not a CSV text file (it holds binary data: an Excel workbook, zip or "
            "image?); export it as CSV (UTF-8) and upload that",
        ),
        (HEADER.encode() + b"\n\n", "the file has a header but no data rows"),
    ],
)
def test_whole_file_messages_in_full(tmp_path: Path, content: bytes, message: str) -> None:
    with pytest.raises(InputError) as caught:
        load_transactions(_csv(tmp_path, content))
    assert str(caught.value) == message


def test_text_beyond_the_sniff_window(tmp_path: Path) -> None:
    header = HEADER + ",note"
    rows = [f"{_row(i)},ok" for i in range(1, 400)]
    body = ("\n".join([header, *rows]) + "\n").encode()
    short = ("\n".join([header, *rows[:199]]) + "\n").encode()  # about 40 KiB
    pad = 65_536 - len(short) - len(_row(200)) - 2  # put row 200's note across the window edge
    assert pad > 0
    last = f"{_row(200)},{'n' * pad}".encode() + "\N{MUSICAL SYMBOL G CLEF}".encode() + b"\n"
    result = load_transactions(_csv(tmp_path, short + last))  # a character cut: not an error
    assert result.rows_in == 200 and len(result.valid) == 200
    bad = body + f"{_row(400)},ok\n".encode() + b"\xff" * 70_000
    with pytest.raises(InputError, match=r"^the file is not UTF-8 text after data row \d+; "):
        load_transactions(_csv(tmp_path, bad, "bad.csv"))
    early = body[:65_000] + b"\xff" + body[65_001:]
    with pytest.raises(InputError, match=r"^the file is not UTF-8 text \(byte 65000\); "):
        load_transactions(_csv(tmp_path, early, "early.csv"))


def test_semicolon_file_with_a_decimal_comma_label(tmp_path: Path) -> None:
    values = _row(1).split(",")
    values[-1] = "1,0"
    text = "\n".join([HEADER.replace(",", ";"), ";".join(values)])
    result = load_transactions(_csv(tmp_path, text), require_label=True)
    assert result.valid["Class"].tolist() == [1.0] and len(result.rejected) == 0


def test_zero_amount_and_time_are_valid(tmp_path: Path) -> None:
    result = load_transactions(_csv(tmp_path, "\n".join([HEADER, _row(0, Amount="0")])))
    assert result.valid[["Time", "Amount"]].values.tolist() == [[0.0, 0.0]]


def test_clean_file_rejected_frame_has_the_columns_to_download(tmp_path: Path) -> None:
    result = load_transactions(_csv(tmp_path, _good(2)))
    assert list(result.rejected.columns) == ["row", "column", "reason", *FEATURES, "Class"]


def test_passthrough_warning_comes_first_and_names_every_column(tmp_path: Path) -> None:
    lines = [HEADER + ",a,b", _row(1, Class="x") + ",1,2"]
    result = load_transactions(_csv(tmp_path, "\n".join(lines)))
    assert result.warnings[0] == "extra columns kept as passthrough, not fed to the model: a, b"
    assert result.warnings[1].startswith("Class: 1 row(s)")


def test_validate_records_checks_a_record_that_did_not_come_from_a_file() -> None:
    from core.data import validate_records

    good = {name: float(i) for i, name in enumerate(FEATURES)}
    bad = {**good, "V4": "abc", "Amount": -1.0}
    frame = pd.DataFrame([good, bad], index=pd.Index([1, 2], name="row"))
    result = validate_records(frame)
    assert result.valid.index.tolist() == [1]
    assert result.valid.loc[1, "V4"] == 4.0 and result.valid.loc[1, "Amount"] == 29.0
    assert result.rejected["row"].tolist() == [2]
    assert result.rejected["reason"].iloc[0] == (
        "V4: 'abc' is not a number; Amount: -1 is negative; expected >= 0"
    )
