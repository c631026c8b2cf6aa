"""Scoring through core: accounting on bad input, outputs, audit rows, spool and replay."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.audit import (
    count_predictions,
)
from core.data import parse_record
from core.db import Prediction, ScoringEvent, get_engine
from core.errors import InputError, NotFoundError
from core.output import rejected_path
from core.schema import FEATURES
from core.scoring import (
    DECISION,
    MODEL_VERSION,
    PROBABILITY,
    resolve_model,
    score_file,
    score_record,
)
from tests.conftest import Trained, analyst


@pytest.fixture(scope="module")
def batch_csv(tiny_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600 rows with a transaction id, 4 of them bad in different ways."""
    frame = tiny_frame.head(600).copy()
    frame.insert(0, "transaction_id", [f"t{i:05d}" for i in range(600)])
    text = frame.astype(object)
    text.loc[10, "V4"] = "abc"
    text.loc[20, "Amount"] = -5.0
    text.loc[30, "V7"] = None
    text.loc[40, "V2"] = "inf"
    path = tmp_path_factory.mktemp("batch") / "batch.csv"
    text.to_csv(path, index=False)
    return path


def test_score_file_accounts_for_every_row_and_sorts(trained: Trained, batch_csv: Path) -> None:
    settings = trained.settings
    choice = resolve_model(settings)
    result = score_file(
        batch_csv, settings=settings, choice=choice, source_kind="cli", actor=analyst("t")
    )
    assert (result.rows_in, result.rows_scored, result.rows_rejected) == (600, 596, 4)
    assert result.rejected["row"].tolist() == [11, 21, 31, 41]
    assert result.rejected["column"].tolist() == ["V4", "Amount", "V7", "V2"]
    scored = result.scored
    assert scored[PROBABILITY].is_monotonic_decreasing
    assert set(scored[MODEL_VERSION]) == {choice.model.info.version}
    assert (scored[DECISION] == (scored[PROBABILITY] >= result.threshold)).all()
    assert result.alerts == int(scored[DECISION].sum())
    at_risk = scored.loc[scored[DECISION] == 1, "Amount"].sum()
    assert result.amount_at_risk == pytest.approx(at_risk)
    assert scored["transaction_id"].str.startswith("t").all()
    # the same probabilities as the model on the same rows
    features = scored[list(FEATURES)].to_numpy()
    assert np.allclose(scored[PROBABILITY], choice.model.predict_proba(features))


def test_every_score_is_audited_on_each_backend(trained: Trained, batch_csv: Path) -> None:
    settings = trained.settings
    choice = resolve_model(settings)
    result = score_file(
        batch_csv, settings=settings, choice=choice, source_kind="cli", actor=analyst("ci")
    )
    assert not result.audit.spooled
    assert count_predictions(settings, result.audit.event_uid) == 596
    with Session(get_engine(settings)) as session:
        event = session.scalars(
            select(ScoringEvent).where(ScoringEvent.event_uid == result.audit.event_uid)
        ).one()
        rows = session.scalars(select(Prediction).where(Prediction.event_id == event.id)).all()
    assert (event.source, event.actor, event.alias) == ("cli", "ci", "champion")
    assert (event.rows_in, event.rows_scored, event.rows_rejected) == (600, 596, 4)
    assert event.alerts == result.alerts and event.threshold == pytest.approx(result.threshold)
    by_row = {r.row_number: r for r in rows}
    top = result.scored.iloc[0]
    assert by_row[top["row"]].transaction_id == top["transaction_id"]
    assert by_row[top["row"]].probability == pytest.approx(top[PROBABILITY])
    expected_hash = hashlib.sha256(np.asarray(top[list(FEATURES)], dtype="<f8").tobytes())
    assert by_row[top["row"]].input_hash == expected_hash.hexdigest()


def test_streamed_output_files(trained_embedded: Trained, batch_csv: Path, tmp_path: Path) -> None:
    settings = trained_embedded.settings
    out = tmp_path / "scored.csv"
    result = score_file(
        batch_csv,
        settings=settings,
        choice=resolve_model(settings),
        source_kind="cli",
        actor=analyst("t"),
        out=out,
        chunk_rows=128,
    )
    assert result.scored is None and result.rows_scored == 596
    written = pd.read_csv(out)
    assert len(written) == 596
    assert written.columns[-6:].tolist() == [
        PROBABILITY,
        DECISION,
        MODEL_VERSION,
        "reason_1",
        "reason_2",
        "reason_3",
    ]
    alerts = written[written[DECISION] == 1]
    assert len(alerts) > 0, "the tiny data should produce some alerts"
    assert alerts["reason_1"].notna().all()
    assert (
        written.loc[written[DECISION] == 0, ["reason_1", "reason_2", "reason_3"]].isna().all().all()
    )
    assert "transaction_id" in written.columns
    rejected = pd.read_csv(rejected_path(out))
    assert rejected["row"].tolist() == [11, 21, 31, 41]
    assert rejected.columns[:3].tolist() == ["row", "column", "reason"]


def test_an_output_that_cannot_be_written_is_reported_and_the_scores_still_audited(
    trained_embedded: Trained, batch_csv: Path, tmp_path: Path
) -> None:
    from core.errors import OutputError

    settings = trained_embedded.settings
    out = tmp_path / "scored.csv"
    taken = tmp_path / "scored.rejected.csv"
    taken.mkdir()  # a folder where the rejected rows should go: putting them in place fails
    with pytest.raises(OutputError, match=f"cannot write {taken}"):
        score_file(
            batch_csv,
            settings=settings,
            choice=resolve_model(settings),
            source_kind="cli",
            actor=analyst("full-disk"),
            out=out,
            chunk_rows=128,
        )
    with Session(get_engine(settings)) as session:
        event = session.scalars(select(ScoringEvent).where(ScoringEvent.actor == "full-disk")).one()
    assert event.rows_scored > 0
    assert count_predictions(settings, event.event_uid) == event.rows_scored


def test_a_file_with_every_row_bad_gives_a_report(
    trained_embedded: Trained, tmp_path: Path
) -> None:
    settings = trained_embedded.settings
    bad = pd.DataFrame({name: ["x", "y"] for name in FEATURES})
    path = tmp_path / "allbad.csv"
    bad.to_csv(path, index=False)
    result = score_file(
        path,
        settings=settings,
        choice=resolve_model(settings),
        source_kind="ui",
        actor=analyst("t"),
    )
    assert (result.rows_in, result.rows_scored, result.rows_rejected) == (2, 0, 2)
    assert result.scored.empty and result.alerts == 0
    assert "Time: 'x' is not a number" in result.rejected["reason"].iloc[0]


def test_unreadable_file_raises_and_audits_nothing(
    trained_embedded: Trained, tmp_path: Path
) -> None:
    settings = trained_embedded.settings
    path = tmp_path / "empty.csv"
    path.write_text("")
    with Session(get_engine(settings)) as session:
        before = session.query(ScoringEvent).count()
    with pytest.raises(InputError, match="the file is empty"):
        score_file(
            path,
            settings=settings,
            choice=resolve_model(settings),
            source_kind="ui",
            actor=analyst("t"),
        )
    with Session(get_engine(settings)) as session:
        assert session.query(ScoringEvent).count() == before


def test_resolve_model_by_version_and_errors(trained_embedded: Trained) -> None:
    settings = trained_embedded.settings
    assert resolve_model(settings, version=1).alias is None
    with pytest.raises(NotFoundError):
        resolve_model(settings, version=42)
    with pytest.raises(NotFoundError):
        resolve_model(settings, alias="nobody")
    with pytest.raises(InputError, match="not both"):
        resolve_model(settings, alias="champion", version=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"Time": 1, "Amount": 2}', {"Time": 1, "Amount": 2}),
        ("Time,Amount\n1,2", {"Time": "1", "Amount": "2"}),
        (",".join(str(i) for i in range(30)), {"Time": "0", "V1": "1", "Amount": "29"}),
    ],
)
def test_parse_record(text: str, expected: dict) -> None:
    parsed = parse_record(text)
    assert {k: parsed[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "nothing pasted"),
        ("{bad json", "not valid JSON"),
        ("1,2,3", "expected one CSV row of 30"),
        ("[1, 2]", "expected one CSV row"),
        ("a,b\n1", "the header has 2 names but the row has 1"),
    ],
)
def test_parse_record_errors(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_record(text)


def test_score_record_names_bad_fields_and_audits(trained_embedded: Trained) -> None:
    settings = trained_embedded.settings
    choice = resolve_model(settings)
    record = dict.fromkeys(FEATURES, 0.5)
    result = score_record(
        record, settings=settings, choice=choice, source_kind="ui", actor=analyst("t")
    )
    assert 0 <= result.probability <= 1
    assert count_predictions(settings, result.audit.event_uid) == 1
    record["V4"] = "abc"
    record["Amount"] = -1
    with pytest.raises(InputError, match=r"V4: 'abc' is not a number; Amount: -1 is negative"):
        score_record(record, settings=settings, choice=choice, source_kind="ui", actor=analyst("t"))
    del record["V4"]
    with pytest.raises(InputError, match="missing required columns: V4"):
        score_record(record, settings=settings, choice=choice, source_kind="ui", actor=analyst("t"))


def test_download_bytes_round_trip(trained_embedded: Trained, batch_csv: Path) -> None:
    import io

    from core.output import to_csv_bytes, to_parquet_bytes

    settings = trained_embedded.settings
    scored = score_file(
        batch_csv,
        settings=settings,
        choice=resolve_model(settings),
        source_kind="ui",
        actor=analyst("t"),
    ).scored
    from_parquet = pd.read_parquet(io.BytesIO(to_parquet_bytes(scored)))
    pd.testing.assert_frame_equal(from_parquet, scored, check_dtype=False)
    from_csv = pd.read_csv(io.BytesIO(to_csv_bytes(scored)))
    assert np.allclose(from_csv[PROBABILITY], scored[PROBABILITY])
    assert from_csv["transaction_id"].tolist() == scored["transaction_id"].tolist()
