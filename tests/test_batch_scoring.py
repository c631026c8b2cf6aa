"""Scoring a file to disk as the CLI and the batch page do: rejected rows stream to their
file (bounded memory), and a bad label stays visible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import ScoringEvent, get_engine
from core.output import rejected_path
from core.scoring import resolve_model, score_file
from core.scoring.batch import REJECTED_KEPT
from tests.conftest import Trained, analyst

ROWS = 4_000
BAD = np.arange(0, ROWS, 3)  # 1,334 rows with a bad V4: more than REJECTED_KEPT


@pytest.fixture(scope="module")
def many_bad(tiny_frame: pd.DataFrame) -> pd.DataFrame:
    frame = tiny_frame.head(ROWS).copy()
    frame.insert(0, "transaction_id", [f"t{i:05d}" for i in range(ROWS)])
    return frame


@pytest.fixture(scope="module")
def many_bad_csv(many_bad: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = many_bad.astype(object)
    text.loc[BAD, "V4"] = [f"bad{i}" for i in BAD]
    path = tmp_path_factory.mktemp("many_bad") / "many_bad.csv"
    text.to_csv(path, index=False)
    return path


def _read_rejected(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={"reason": str, "V4": str, "transaction_id": str})


@pytest.mark.parametrize("sink", ["out", "parquet_out"])
def test_many_rejected_rows_stream_to_their_file_not_to_memory(
    trained_embedded: Trained, many_bad: pd.DataFrame, many_bad_csv: Path, tmp_path: Path, sink: str
) -> None:
    settings = trained_embedded.settings
    target = tmp_path / ("scored.csv" if sink == "out" else "scored.parquet")
    rejected_file = rejected_path(target) if sink == "out" else tmp_path / "scored.rejected.parquet"
    sizes: list[int] = []

    def watch(_fraction: float, message: str) -> None:
        # after each chunk ("Scored 500 rows"); the Parquet sink writes in this thread, so
        # its partial rejected file holds that chunk's rows now
        partial = sorted(tmp_path.glob(".scored.rejected.parquet.*.partial"))
        if partial and message.startswith("Scored"):
            sizes.append(partial[0].stat().st_size)

    result = score_file(
        many_bad_csv,
        settings=settings,
        choice=resolve_model(settings),
        source_kind="cli",
        actor=analyst("many-bad"),
        chunk_rows=500,
        progress=watch,
        **{sink: target},
    )
    # every bad row, counted and described, is in the file
    assert result.rows_rejected == len(BAD) > REJECTED_KEPT
    assert result.rows_scored == ROWS - len(BAD)
    written = _read_rejected(rejected_file)
    assert written["row"].astype(int).tolist() == (BAD + 1).tolist()
    assert written["column"].tolist() == ["V4"] * len(BAD)
    assert written["reason"].tolist() == [f"V4: 'bad{i}' is not a number" for i in BAD]
    assert written["V4"].tolist() == [f"bad{i}" for i in BAD]
    assert written["transaction_id"].tolist() == many_bad["transaction_id"].iloc[BAD].tolist()
    assert np.allclose(written["Amount"].astype(float), many_bad["Amount"].iloc[BAD])
    # only the first rows are held in memory, to show
    assert result.rejected["row"].astype(int).tolist() == (BAD[:REJECTED_KEPT] + 1).tolist()
    # the audit counts them all
    with Session(get_engine(settings)) as session:
        event = session.scalars(
            select(ScoringEvent).where(ScoringEvent.event_uid == result.audit.event_uid)
        ).one()
    assert event.rows_rejected == len(BAD)
    if sink == "parquet_out":  # the file grew chunk by chunk while scoring
        chunks = -(-ROWS // 500)
        assert len(sizes) == chunks and sizes == sorted(set(sizes))


BAD_LABELS = {2: "x", 5: "2", 6: "-1", 9: "", 12: "yes", 15: " \t"}  # index -> the file's Class


@pytest.mark.parametrize("sink", ["out", "parquet_out", None])
def test_a_bad_label_stays_visible_in_the_scored_rows(
    trained_embedded: Trained, tiny_frame: pd.DataFrame, tmp_path: Path, sink: str | None
) -> None:
    settings = trained_embedded.settings
    frame = tiny_frame.head(40).astype({"Class": object})
    for i, value in BAD_LABELS.items():
        frame.loc[i, "Class"] = value
    frame["note"] = "n"  # a passthrough column stays after the label
    path = tmp_path / "labels.csv"
    frame.to_csv(path, index=False)
    target = {"out": tmp_path / "o.csv", "parquet_out": tmp_path / "o.parquet", None: None}[sink]
    result = score_file(
        path,
        settings=settings,
        choice=resolve_model(settings),
        source_kind="cli",
        actor=analyst("labels"),
        chunk_rows=8,  # bad labels in some chunks only: every chunk has the column
        **({sink: target} if sink else {}),
    )
    if sink == "out":
        scored = pd.read_csv(target, dtype={"Class_invalid": str}, keep_default_na=False)
        scored["Class"] = pd.to_numeric(scored["Class"])
    elif sink == "parquet_out":
        scored = pd.read_parquet(target)
    else:
        scored = result.scored.sort_values("row")
    columns = scored.columns.tolist()
    assert columns[columns.index("Class") + 1] == "Class_invalid"
    by_row = scored.set_index("row")
    for i in range(40):
        text = by_row.loc[i + 1, "Class_invalid"]
        label = by_row.loc[i + 1, "Class"]
        if BAD_LABELS.get(i, "").strip():  # kept as the file wrote it; no label
            assert (text, pd.isna(label)) == (BAD_LABELS[i], True), i
        elif i in BAD_LABELS:  # an empty (or blank) Class is unlabelled, not invalid
            assert (pd.isna(text) or text == "", pd.isna(label)) == (True, True), i
        else:
            assert pd.isna(text) or text == "", i
            assert label == tiny_frame["Class"].iloc[i], i


def test_the_evaluation_counts_invalid_and_empty_labels_apart() -> None:
    from core.scoring.evaluate import compute_batch_evaluation

    labels = np.array([1.0, 0.0, np.nan, np.nan, np.nan, 0.0])
    invalid = np.array([False, False, True, False, True, False])  # 'x', '2'; one empty
    probability = np.array([0.9, 0.8, 0.9, 0.1, 0.2, 0.1])
    e = compute_batch_evaluation(labels, probability, np.ones(6), threshold=0.5, invalid=invalid)
    assert (e.labelled, e.invalid, e.unlabelled) == (3, 2, 1)
    assert (e.true_positives, e.false_positives, e.true_negatives) == (1, 1, 1)


def test_a_numeric_label_is_shown_with_the_digits_it_has() -> None:
    """A Class column read as numbers: the bad values are shown as written, not rounded."""
    from core.data.labels import label_text

    raw = pd.Series([1.0000001, 0.50000001, 123456789.0, 2.0, -1.0])
    assert label_text(raw).tolist() == ["1.0000001", "0.50000001", "123456789", "2", "-1"]


def test_a_blank_label_flagged_by_the_loader_is_unlabelled_not_invalid() -> None:
    """A quoted blank Class (' ', a tab) strips to nothing: it is shown empty, so it must
    not be counted as an invalid label (whose text the Class_invalid column shows)."""
    from core.data.labels import check_scoring_labels

    raw = pd.Series(["x", " ", "1", "\t"], index=[1, 2, 3, 4])
    labels = pd.Series([np.nan, np.nan, 1.0, np.nan], index=[1, 2, 3, 4])
    flagged = pd.DataFrame({"column": ["Class"] * 3, "reason": ["Class: bad"] * 3}, index=[1, 2, 4])
    checked = check_scoring_labels(raw, labels, [flagged], not_scored=pd.Index([]))
    assert checked.invalid.to_dict() == {1: "x"}


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_the_scored_file_keeps_the_uploads_column_order(
    trained_embedded: Trained, tiny_frame: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    """A scored file lines up with the one uploaded: its columns in the file's order (an id
    first, Amount before Time, the label in the middle), the scores after them."""
    settings = trained_embedded.settings
    frame = tiny_frame.head(30).copy()
    frame["txn_id"] = [f"t{i}" for i in range(30)]
    frame["note"] = "n"
    features = [c for c in tiny_frame.columns if c not in ("Class", "Time", "Amount")]
    order = ["txn_id", "Amount", *features[:10], "Class", "Time", *features[10:], "note"]
    path = tmp_path / "shuffled.csv"
    frame[order].to_csv(path, index=False)
    out = tmp_path / f"scored.{suffix}"
    sink = "out" if suffix == "csv" else "parquet_out"
    score_file(
        path,
        settings=settings,
        choice=resolve_model(settings),
        source_kind="cli",
        actor=analyst("order"),
        chunk_rows=8,
        **{sink: out},
    )
    scored = pd.read_csv(out) if suffix == "csv" else pd.read_parquet(out)
    columns = scored.columns.tolist()
    assert [c for c in columns if c in order] == order
    assert columns.index("Class_invalid") == columns.index("Class") + 1
    assert columns.index("fraud_probability") > columns.index("note")
