"""The batch page's core parts: spreadsheet-safe CSV, results on disk and their sweep, the
evaluation maths and the readable histogram."""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from core.config import Settings
from core.errors import InputError
from core.safe_csv import neutralise_formulas, to_safe_csv_bytes
from core.scoring.batch_files import (
    batches_folder,
    lock_batches,
    new_batch_files,
    new_session_id,
    save_upload,
    sweep_batches,
)
from core.scoring.evaluate import compute_auprc, compute_batch_evaluation


def test_text_cells_that_start_like_a_formula_are_neutralised() -> None:
    table = pa.table(
        {
            "text": [
                "=1+1",
                "+cmd|' /C calc'!A0",
                "-2",
                "@SUM(A1:A9)",
                "\tx",
                "\rx",
                "ok",
                None,
                "-2+3",
            ],
            "number": [-2.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        }
    )
    safe = neutralise_formulas(table).to_pydict()
    assert safe["text"] == [
        "'=1+1",
        "'+cmd|' /C calc'!A0",
        "-2",  # only a number: a spreadsheet reads it as -2, never as a formula
        "'@SUM(A1:A9)",
        "'\tx",
        "'\rx",
        "ok",
        None,
        "'-2+3",  # a number followed by more is a formula
    ]
    assert safe["number"][0] == -2.0  # numeric columns stay numbers


def test_safe_csv_bytes_keep_numbers_as_numbers() -> None:
    frame = pd.DataFrame({"raw": ["=HYPERLINK(1)", "1.5"], "Amount": [-2.0, 3.0]})
    read = pd.read_csv(io.BytesIO(to_safe_csv_bytes(frame)))
    assert read["raw"].tolist() == ["'=HYPERLINK(1)", "1.5"]
    assert read["Amount"].tolist() == [-2.0, 3.0]


def test_upload_is_copied_to_disk_and_old_sessions_are_swept(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, batch_max_age=1.0)
    old = new_batch_files(settings, new_session_id())
    save_upload(io.BytesIO(b"Time,V1\n1,2\n" * 3), old)
    assert old.upload.read_bytes() == b"Time,V1\n1,2\n" * 3
    new = new_batch_files(settings, new_session_id())
    two_hours_ago = time.time() - 2 * 3600
    for path in [old.folder.parent, *old.folder.parent.rglob("*")]:
        os.utime(path, (two_hours_ago, two_hours_ago))
    assert sweep_batches(settings) == [old.folder.parent]
    assert not old.folder.exists() and new.folder.is_dir()
    names = {p.name for p in batches_folder(settings).iterdir()}
    assert names == {new.folder.parent.name, ".lock"}


def _age(folder: Path, *, hours: float) -> None:
    then = time.time() - hours * 3600
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (then, then))


def test_a_sweep_removes_nothing_while_another_session_holds_the_lock(tmp_path: Path) -> None:
    """A session creating or touching its folder holds the lock: the sweep must not judge
    and remove an old-looking folder meanwhile; it sweeps once the lock is free."""
    settings = Settings(home=tmp_path, batch_max_age=1.0)
    files = new_batch_files(settings, new_session_id())
    _age(files.folder.parent, hours=2)
    root = batches_folder(settings)
    (root / ".swept-0123").mkdir()  # left by a sweep that was stopped midway
    with lock_batches(root):  # another session, mid-creation
        assert sweep_batches(settings) == []
        assert files.folder.is_dir() and (root / ".swept-0123").is_dir()
    assert sweep_batches(settings) == [files.folder.parent]
    assert not files.folder.parent.exists()
    assert [p.name for p in root.iterdir()] == [".lock"]  # nothing left aside


def test_a_new_run_waits_for_a_sweep_and_keeps_its_old_session(tmp_path: Path) -> None:
    """A session idle for hours starts a new run while a sweep holds the lock: the run
    waits, and afterwards its session is young again and kept by the next sweep."""
    settings = Settings(home=tmp_path, batch_max_age=1.0)
    session = new_session_id()
    old = new_batch_files(settings, session)
    _age(old.folder.parent, hours=2)
    made: list = []
    done = threading.Event()

    def start_a_run() -> None:
        made.append(new_batch_files(settings, session))
        done.set()

    with lock_batches(batches_folder(settings)):  # a sweep, judging the folders
        worker = threading.Thread(target=start_a_run)
        worker.start()
        # never set while the lock is held (a bound on a negative, not a synchronisation)
        assert not done.wait(0.5)
        assert not made
    worker.join()
    assert sweep_batches(settings) == []
    assert made[0].folder.is_dir() and old.folder.is_dir()


def test_touch_keeps_a_run_and_says_when_it_was_swept(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, batch_max_age=1.0)
    files = new_batch_files(settings, new_session_id())
    save_upload(io.BytesIO(b"x"), files)
    files.upload.rename(files.scored)  # a scored run
    _age(files.folder.parent, hours=2)
    assert files.touch()
    assert sweep_batches(settings) == []
    _age(files.folder.parent, hours=2)
    assert sweep_batches(settings) == [files.folder.parent]
    assert not files.touch()  # gone: the page says so
    assert not files.folder.parent.exists()  # and touching did not bring it back


def test_a_session_id_cannot_name_another_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a batch session id"):
        new_batch_files(Settings(home=tmp_path), "../../etc")


def test_evaluation_counts_by_hand() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0, 0, np.nan])
    probability = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.05, 0.6, 0.99])
    amount = np.array([100.0, 20.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1000.0])
    e = compute_batch_evaluation(labels, probability, amount, threshold=0.6)
    # alerts (>= 0.6) among labelled: rows 0, 1 (fraud), 3, 6 (legitimate)
    assert (e.true_positives, e.false_positives, e.false_negatives, e.true_negatives) == (
        2,
        2,
        1,
        2,
    )
    assert (e.amount_caught, e.amount_missed, e.unlabelled) == (120.0, 5.0, 1)
    assert (e.precision, e.recall) == (0.5, 2 / 3)
    # ranked: 0.9 F, 0.7 L, 0.6 F / 0.6 L (tie), 0.2 F: AP = 1/3 * (1 + 2/4 + 3/5)
    assert compute_auprc(labels, probability) == pytest.approx((1 + 2 / 4 + 3 / 5) / 3)
    assert compute_auprc(np.array([0.0, 0.0]), np.array([0.1, 0.2])) is None
    # a NaN score (a version from elsewhere) gives no AUPRC, not sklearn's ValueError
    assert compute_auprc(np.array([1.0, 0.0]), np.array([np.nan, 0.2])) is None


def test_histogram_ticks_read_as_counts_and_one_row_shows() -> None:
    from app.ui.charts import plot_score_histogram

    scores = np.r_[np.full(1_000_000, 0.01), 0.97]  # one lone row near 1
    figure = plot_score_histogram(scores, threshold=0.5)
    axis = figure.layout.yaxis
    assert axis.ticktext == ("1", "10", "100", "1k", "10k", "100k", "1M")
    assert axis.range[0] < 0  # below log10(1): a bin of one row is a visible bar
    bars = figure.data[0]
    assert len(bars.y) == 50 and np.nansum(bars.y) == 1_000_001


def test_scored_and_rejected_files_on_disk_download_as_safe_csv(tmp_path: Path) -> None:
    from core.output import ParquetSink
    from core.scoring.batch_files import export_csv

    sink = ParquetSink(tmp_path / "scored.parquet")
    for start in (1, 3):  # two chunks, as scoring writes them
        frame = pd.DataFrame(
            {"row": [start, start + 1], "transaction_id": ["=cmd()", "t2"], "V1": [-2.0, 1.5]}
        )
        rejected = pd.DataFrame({"row": [9], "reason": ["V1: bad"], "V1": ["@SUM(A1)"]})
        sink.write(frame, rejected)
    sink.close()
    scored = pd.read_csv(export_csv(tmp_path / "scored.parquet", tmp_path / "scored.csv"))
    assert scored["transaction_id"].tolist() == ["'=cmd()", "t2"] * 2
    assert scored["V1"].tolist() == [-2.0, 1.5] * 2  # numbers stay numbers
    rejected = pd.read_csv(export_csv(sink.rejected_path, tmp_path / "rejected.csv"))
    assert rejected["V1"].tolist() == ["'@SUM(A1)"] * 2


def test_a_search_that_is_not_a_plain_row_number_matches_nothing(tmp_path: Path) -> None:
    """Without an id column the search is a row number: a superscript digit ('²' passes
    str.isdigit) or a number past int64 must match nothing, not raise."""
    from core.output import ParquetSink
    from core.scoring.batch_files import RowFilter, query_rows

    sink = ParquetSink(tmp_path / "scored.parquet")
    frame = pd.DataFrame({"row": [1, 2, 12], "fraud_probability": [0.1, 0.9, 0.5]})
    sink.write(frame, pd.DataFrame())
    sink.close()
    path = tmp_path / "scored.parquet"
    for text in ("²", "１２", "9" * 30):
        assert query_rows(path, RowFilter(search=text)).matching == 0
    assert query_rows(path, RowFilter(search=" 12 ")).rows["row"].tolist() == [12]


def test_a_header_that_starts_like_a_formula_is_neutralised(tmp_path: Path) -> None:
    """Column names come from the upload (passthrough columns, the rejected rows' raw
    header), so the CSV header line is a cell a spreadsheet would run too."""
    from core.safe_csv import write_safe_csv

    frame = pd.DataFrame({"=HYPERLINK(1)": ["a"], "@x": [1.0], "Amount": [2.0]})
    header = to_safe_csv_bytes(frame).decode().splitlines()[0]
    assert header == '"\'=HYPERLINK(1)","\'@x","Amount"'
    out = write_safe_csv(iter([pa.Table.from_pandas(frame)]), tmp_path / "x.csv")
    assert out.read_text().splitlines()[0] == header


def test_putting_a_result_in_place_never_resets_the_process_umask(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.umask is process-wide: setting it to 0 to read it, while another session's
    thread makes a folder, would make that folder world-writable."""
    from core.safe_csv import write_safe_csv

    def no_umask(mask: int) -> int:
        raise AssertionError("os.umask called while threads may be creating files")

    mask = os.umask(0o022)
    os.umask(mask)
    monkeypatch.setattr(os, "umask", no_umask)
    out = write_safe_csv(iter([pa.table({"a": ["x"]})]), tmp_path / "x.csv")
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


def test_the_what_if_slider_at_rest_judges_at_the_live_threshold_itself() -> None:
    """The slider holds 4 decimals: at rest it must not move rows between the live
    threshold (0.31575158) and its rounding (0.3158) across the alert line."""
    from app.ui.batch_evaluation import slider_start, what_if_threshold

    live = 0.31575158
    assert slider_start(live) == 0.3158
    labels, probability, amount = np.array([1.0, 0.0]), np.array([0.3157516, 0.9]), np.ones(2)
    at_live = compute_batch_evaluation(labels, probability, amount, threshold=live)
    at_rest = compute_batch_evaluation(
        labels, probability, amount, threshold=what_if_threshold(slider_start(live), live=live)
    )
    assert (at_rest.alerts, at_rest.true_positives) == (at_live.alerts, 1) == (2, 1)
    assert what_if_threshold(0.5, live=live) == 0.5  # a moved slider is taken as it is


def test_batch_folders_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    """They hold uploaded transactions: no other account may list or read them."""
    settings = Settings(home=tmp_path)
    mask = os.umask(0o022)  # the usual umask would make folders 0755
    try:
        files = new_batch_files(settings, new_session_id())
        again = new_batch_files(settings, files.folder.parent.name)  # a second run, same session
    finally:
        os.umask(mask)
    for folder in (files.folder.parent, files.folder, again.folder):
        assert folder.stat().st_mode & 0o777 == 0o700, folder


def test_the_id_search_ignores_case(tmp_path: Path) -> None:
    """Ids are typed as people read them: 'TX-0148' finds 'tx-01480'."""
    from core.output import ParquetSink
    from core.scoring.batch_files import RowFilter, query_rows

    sink = ParquetSink(tmp_path / "scored.parquet")
    frame = pd.DataFrame(
        {
            "row": [1, 2, 3],
            "transaction_id": ["tx-01480", "TX-01481", "ab-7"],
            "fraud_probability": [0.1, 0.9, 0.5],
        }
    )
    sink.write(frame, pd.DataFrame())
    sink.close()
    found = query_rows(tmp_path / "scored.parquet", RowFilter(search="Tx-0148"))
    assert sorted(found.rows["row"].tolist()) == [1, 2]
