"""The audit log never blocks and never hides a record: spool, replay, set-aside records,
the database a record belongs to, per-chunk commits, safe text, driver errors."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.audit import (
    AuditStream,
    ScoringEventRecord,
    count_predictions,
    failed_dir,
    log_scoring,
    make_predictions_table,
    pending_spool,
    replay_spool,
    retry_failed,
    spool_dir,
    spool_status,
    sweep_interrupted,
)
from core.audit.spool import current_database, spool_record
from core.audit.writer import begin_event, write_chunk
from core.config import Settings
from core.data import generate_transactions
from core.db import Prediction, ScoringEvent, get_engine
from core.drift import DriftCounts
from core.schema import FEATURES
from core.scoring import resolve_model, score_file, score_record
from tests.conftest import LEAD, REPO, Trained, analyst, free_port, write_old_spool_file

# --------------------------------------------------------------------------- helpers


class Proxy:
    """A TCP forwarder on a fixed loopback port: a real PostgreSQL that goes away and
    comes back at the same address (stop / start)."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self._target = target_port
        self._server: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def start(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):  # wakes the accept() blocked in its thread
                self._server.shutdown(socket.SHUT_RDWR)
            self._server.close()
            self._server = None
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._sockets.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)


class SameDatabase:
    """One app database (the backend's) that can be made unreachable and back again,
    at the same URL: an SQLite file whose folder is blocked by a plain file, or a
    PostgreSQL database behind a proxy that is stopped."""

    def __init__(self, backend: Settings, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        if str(backend.database_url).startswith("sqlite"):
            self._blocker = tmp_path / "db"
            self.url = f"sqlite:///{self._blocker / 'workbench.db'}"
            self.proxy = None
        else:
            from sqlalchemy import make_url

            url = make_url(str(backend.database_url))
            self.proxy = Proxy(url.port or 5432)
            self.url = url.set(port=self.proxy.port).render_as_string(hide_password=False)

    def down(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        elif not self._blocker.exists():
            self._blocker.write_text("not a folder")

    def up(self) -> None:
        if self.proxy is not None:
            self.proxy.start()
        elif self._blocker.is_file():
            self._blocker.unlink()

    def settings(self, home: Path, **kwargs: object) -> Settings:
        return Settings(home=home, database_url=self.url, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def same_database(backend_settings: Settings, tmp_path: Path) -> Iterator[SameDatabase]:
    database = SameDatabase(backend_settings, tmp_path)
    yield database
    if database.proxy is not None:
        database.proxy.stop()


def _header(**changes: object) -> ScoringEventRecord:
    event = ScoringEventRecord(
        source="cli",
        actor="t",
        model_name="m",
        model_version=1,
        alias=None,
        threshold=0.5,
        rows_in=0,
        rows_scored=0,
        rows_rejected=0,
        alerts=0,
    )
    return replace(event, **changes)


def _table(n: int, *, ids: list[str | None] | None = None, start: int = 0) -> pa.Table:
    return make_predictions_table(
        row_number=np.arange(start + 1, start + n + 1),
        transaction_id=None if ids is None else np.array(ids, dtype=object),
        features=np.full((n, 30), start, dtype=float),
        probability=np.full(n, 0.1),
        decision=np.zeros(n),
    )


def _without_hashes(table: pa.Table) -> pa.Table:
    """A chunk every database refuses for its content: input_hash is NOT NULL."""
    return table.set_column(2, "input_hash", pa.nulls(table.num_rows, pa.string()))


def _stored(settings: Settings, event_uid: str) -> tuple[str, int, int] | None:
    """(status, chunks_done, prediction rows) of one event, whatever its status."""
    with Session(get_engine(settings)) as session:
        event = session.scalars(
            select(ScoringEvent).where(ScoringEvent.event_uid == event_uid)
        ).one_or_none()
        if event is None:
            return None
        rows = len(
            session.scalars(select(Prediction.id).where(Prediction.event_id == event.id)).all()
        )
        return event.status, event.chunks_done, rows


# --------------------------------------------------------------------------- spool and replay


def test_spool_replays_in_order_without_duplicates(
    trained_embedded: Trained, same_database: SameDatabase, tmp_path: Path
) -> None:
    live = trained_embedded.settings
    choice = resolve_model(live)
    csv = tmp_path / "batch.csv"
    generate_transactions(596, fraud_rate=0.02, seed=5).to_csv(csv, index=False)
    home = tmp_path / "spooling-home"
    # The model's registry stays the live one (thresholds are read from it per call);
    # only the app database goes down and comes back.
    registry = {"tracking_uri": live.tracking_uri, "model_name": live.model_name}
    down = same_database.settings(home, **registry)
    same_database.down()
    first = score_file(csv, settings=down, choice=choice, source_kind="cli", actor=analyst("a"))
    second = score_record(
        dict.fromkeys(FEATURES, 0.1),
        settings=down,
        choice=choice,
        source_kind="ui",
        actor=analyst("b"),
    )
    assert first.audit.stored == "spool" and second.audit.stored == "spool"
    assert "saved to the local spool" in first.audit.message and pending_spool(down) == 2
    kept = tmp_path / "kept.parquet"
    shutil.copy(sorted(spool_dir(down).glob("*.parquet"))[0], kept)

    same_database.up()
    back = same_database.settings(home, **registry)
    third = score_file(csv, settings=back, choice=choice, source_kind="cli", actor=analyst("c"))
    assert third.audit.stored == "database" and third.audit.replayed == 2
    assert pending_spool(back) == 0

    uids = [first.audit.event_uid, second.audit.event_uid, third.audit.event_uid]
    with Session(get_engine(back)) as session:
        stored = session.scalars(
            select(ScoringEvent.event_uid)
            .where(ScoringEvent.event_uid.in_(uids))
            .order_by(ScoringEvent.id)
        ).all()
    assert stored == uids  # replayed in the order they were made, before the new one
    assert [count_predictions(back, uid) for uid in uids] == [596, 1, 596]

    # a crash after commit but before the spool file was removed: replay must not duplicate
    shutil.copy(kept, spool_dir(back) / kept.name)
    assert replay_spool(back, actor=LEAD) == 0 and pending_spool(back) == 0
    assert count_predictions(back, first.audit.event_uid) == 596


def test_a_refused_record_is_set_aside_with_its_reason_and_blocks_nothing(
    same_database: SameDatabase, tmp_path: Path
) -> None:
    """The bug: a record the database refuses (raw driver error from COPY/executemany)
    crashed replay and made every later event spool."""
    home = tmp_path / "home"
    same_database.down()
    down = same_database.settings(home)
    bad = _header()
    assert log_scoring(down, bad, _without_hashes(_table(3))).stored == "spool"
    same_database.up()
    back = same_database.settings(home)

    good = _header()
    receipt = log_scoring(back, good, _table(4))
    assert receipt.stored == "database" and not receipt.spooled
    assert count_predictions(back, good.event_uid) == 4
    status = spool_status(back)
    assert (len(status.waiting), len(status.set_aside), len(status.other_database)) == (0, 1, 0)
    refused = status.set_aside[0]
    assert refused.event_uid == bad.event_uid and refused.rows == 3
    assert "input_hash" in refused.reason and ("null" in refused.reason.lower())
    assert _stored(back, bad.event_uid)[0] == "interrupted"  # never counted as complete
    assert count_predictions(back, bad.event_uid) == 0

    # the same refusal while writing live: set aside at once, the next one is stored
    worse = _header()
    receipt = log_scoring(back, worse, _without_hashes(_table(2)))
    assert receipt.stored == "set_aside" and "set aside" in receipt.message
    after = _header()
    assert log_scoring(back, after, _table(1)).stored == "database"
    assert pending_spool(back) == 0 and len(spool_status(back).set_aside) == 2

    # retry-failed tries again; refused again, each keeps a (new) reason
    assert retry_failed(back, actor=LEAD) == 0
    again = spool_status(back)
    assert len(again.set_aside) == 2 and all("input_hash" in r.reason for r in again.set_aside)


def test_a_corrupt_spool_file_is_set_aside_not_a_crash(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    spool_dir(settings).mkdir(parents=True)
    (spool_dir(settings) / "00000000000000000001-broken.parquet").write_bytes(b"not parquet")
    ok = _header()
    assert log_scoring(settings, ok, _table(2)).stored == "database"
    assert count_predictions(settings, ok.event_uid) == 2
    status = spool_status(settings)
    assert [r.file for r in status.set_aside] == ["00000000000000000001-broken.parquet"]
    assert status.set_aside[0].reason.startswith("unreadable spool file")


def test_spool_status_reads_each_spool_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spy on pyarrow (not on our code): status reads each file's metadata once."""
    import pyarrow.parquet as pq

    home = tmp_path / "home"
    ours = Settings(home=home, database_url=f"sqlite:///{tmp_path / 'ours.db'}")
    other = Settings(home=home, database_url=f"sqlite:///{tmp_path / 'other' / 'x.db'}")
    database = current_database(ours, contact=True)
    spool_record(ours, _header(), [_table(2)], database)  # waiting
    spool_record(ours, _header(), [_table(1)], current_database(other, contact=False))  # other
    spool_record(ours, _header(), [_table(3)], database, reason="refused")  # set aside
    reads: list[str] = []
    real = pq.read_metadata

    def counting(where, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(Path(where).name)
        return real(where, *args, **kwargs)

    monkeypatch.setattr(pq, "read_metadata", counting)
    status = spool_status(ours)
    assert (len(status.waiting), len(status.other_database), len(status.set_aside)) == (1, 1, 1)
    assert sorted(reads) == sorted({*reads}) and len(reads) == 3, reads


# --------------------------------------------------------------------------- which database


def test_a_record_spooled_for_one_database_is_never_written_to_another(
    same_database: SameDatabase, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    target = same_database.settings(home)
    if same_database.proxy is not None:  # reach it once: the record then carries its id
        same_database.up()
        known = current_database(target, contact=True).database_id
        assert known is not None
    same_database.down()
    event = _header()
    assert log_scoring(target, event, _table(5)).stored == "spool"

    other = Settings(home=home, database_url=f"sqlite:///{tmp_path / 'other' / 'wb.db'}")
    assert replay_spool(other, actor=LEAD) == 0
    assert _stored(other, event.event_uid) is None  # nothing written to the other database
    assert pending_spool(other) == 1
    status = spool_status(other)
    assert len(status.waiting) == 0 and len(status.other_database) == 1
    assert status.other_database[0].event_uid == event.event_uid
    # a new score on the other database is stored there, and leaves the record alone
    assert log_scoring(other, _header(), _table(1)).stored == "database"
    assert pending_spool(other) == 1

    same_database.up()
    assert replay_spool(target, actor=LEAD) == 1 and pending_spool(target) == 0
    assert count_predictions(target, event.event_uid) == 5


def test_a_recreated_database_at_the_same_address_is_another_database(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'wb.db'}")
    log_scoring(settings, _header(), _table(1))  # reached: its id is known from now on
    from core.db.engine import dispose_engines

    dispose_engines()
    (tmp_path / "wb.db").rename(tmp_path / "old.db")
    (tmp_path / "wb.db").mkdir()  # the address cannot be opened
    event = _header()
    assert log_scoring(settings, event, _table(2)).stored == "spool"
    (tmp_path / "wb.db").rmdir()  # a new, empty database appears at the same address
    assert replay_spool(settings, actor=LEAD) == 0
    assert _stored(settings, event.event_uid) is None
    assert len(spool_status(settings).other_database) == 1


# --------------------------------------------------------------------------- adoption


def test_records_no_database_takes_are_adopted_only_when_named(
    backend_settings: Settings, tmp_path: Path
) -> None:
    from core.audit import adopt_spooled, list_adoptable
    from core.audit.spool import DatabaseTag
    from core.errors import InputError

    settings = backend_settings.model_copy(update={"home": tmp_path / "home"})
    old, gone = _header(rows_in=3, rows_scored=3), _header(rows_in=2, rows_scored=2)
    old_file = write_old_spool_file(settings, old, _table(3))
    kept = tmp_path / "old-copy.parquet"
    shutil.copy(old_file, kept)
    never = DatabaseTag("a-database-gone-for-good", "0123456789abcdef", "postgresql://h:5432/x")
    spool_record(settings, gone, [_table(2)], never)

    # shown, never replayed on a guess
    assert replay_spool(settings, actor=LEAD) == 0
    status = spool_status(settings)
    assert not status.waiting and len(status.other_database) == 2
    assert [(r.event_uid, r.untagged) for r in status.other_database] == [
        (old.event_uid, True),
        (gone.event_uid, False),
    ]
    assert status.other_database[1].database_key == "a-database-gone-for-good"

    with pytest.raises(InputError, match="name the records to adopt"):
        list_adoptable(settings)
    with pytest.raises(InputError, match="name the records to adopt"):
        adopt_spooled(settings, actor=LEAD)
    listed = list_adoptable(settings, untagged=True)  # a dry run writes nothing
    assert [r.event_uid for r in listed.records] == [old.event_uid] and not listed.adopted
    assert _stored(settings, old.event_uid) is None and pending_spool(settings) == 2

    done = adopt_spooled(settings, actor=LEAD, untagged=True)
    assert [r.event_uid for r in done.stored] == [old.event_uid]
    assert not done.set_aside and not done.waiting
    assert _stored(settings, old.event_uid) == ("complete", 1, 3)
    assert count_predictions(settings, old.event_uid) == 3
    assert pending_spool(settings) == 1  # the other database's record is left alone

    # adopted twice (a copy of its file comes back): stored once
    shutil.copy(kept, old_file)
    again = adopt_spooled(settings, actor=LEAD, untagged=True)
    assert [r.event_uid for r in again.stored] == [old.event_uid]
    assert count_predictions(settings, old.event_uid) == 3 and pending_spool(settings) == 1

    assert not adopt_spooled(settings, actor=LEAD, from_database="no-such-database").records
    done = adopt_spooled(settings, actor=LEAD, from_database="a-database-gone-for-good")
    assert [r.event_uid for r in done.stored] == [gone.event_uid]
    assert count_predictions(settings, gone.event_uid) == 2 and pending_spool(settings) == 0


def test_adoption_waits_for_the_replay_lock(tmp_path: Path) -> None:
    from filelock import FileLock

    from core.audit import adopt_spooled

    settings = Settings(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'wb.db'}")
    event = _header(rows_in=4, rows_scored=4)
    write_old_spool_file(settings, event, _table(4))
    lock = FileLock(spool_dir(settings) / ".replay.lock")
    lock.acquire()
    outcome: list[object] = []
    worker = threading.Thread(
        target=lambda: outcome.append(adopt_spooled(settings, actor=LEAD, untagged=True)),
        daemon=True,
    )
    try:
        worker.start()
        worker.join(timeout=2)
        assert worker.is_alive() and _stored(settings, event.event_uid) is None
    finally:
        lock.release()
    worker.join(timeout=120)
    assert not worker.is_alive() and len(outcome) == 1
    assert count_predictions(settings, event.event_uid) == 4


# --------------------------------------------------------------------------- one replayer


_REPLAY = """
import sys
from core.audit import replay_spool
from core.auth import Actor, Role
from core.config import Settings
lead = Actor(name="lead", role=Role.ML_LEAD)
print(replay_spool(Settings(home=sys.argv[1], database_url=sys.argv[2]), actor=lead))
"""


@pytest.mark.timeout(300)
def test_two_processes_replaying_the_same_spool_store_each_record_once(
    same_database: SameDatabase, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    same_database.down()
    down = same_database.settings(home)
    events = [_header() for _ in range(12)]
    for k, event in enumerate(events):
        assert log_scoring(down, event, _table(50 + k)).stored == "spool"
    same_database.up()
    get_engine(same_database.settings(home))  # migrated: the race under test is the replay
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _REPLAY, str(home), same_database.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=240) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], [err[-2000:] for _, err in outputs]
    assert sorted(int(out) for out, _ in outputs) == [0, 12]  # one wrote all, one none
    back = same_database.settings(home)
    assert pending_spool(back) == 0 and not spool_status(back).set_aside
    assert [_stored(back, e.event_uid) for e in events] == [
        ("complete", 1, 50 + k) for k in range(12)
    ]


# --------------------------------------------------------------------------- per chunk


def test_replay_resumes_a_partly_written_event_chunk_by_chunk(backend_settings: Settings) -> None:
    settings = backend_settings
    engine = get_engine(settings)
    event = _header(rows_in=9, rows_scored=9)
    chunks = [_table(3, start=0), _table(3, start=3), _table(3, start=6)]
    stored = begin_event(engine, event)
    assert write_chunk(engine, stored.event_id, 0, chunks[0])
    assert write_chunk(engine, stored.event_id, 1, chunks[1])
    assert not write_chunk(engine, stored.event_id, 1, chunks[1])  # never twice
    # readers count complete events only
    assert count_predictions(settings, event.event_uid) == 0
    assert _stored(settings, event.event_uid) == ("in_progress", 2, 6)

    spool_record(settings, event, chunks, current_database(settings, contact=True))
    assert replay_spool(settings, actor=LEAD) == 1  # not dropped as "already stored"
    assert _stored(settings, event.event_uid) == ("complete", 3, 9)
    assert count_predictions(settings, event.event_uid) == 9
    with Session(engine) as session:
        rows = session.scalars(
            select(Prediction.row_number)
            .join(ScoringEvent, ScoringEvent.id == Prediction.event_id)
            .where(ScoringEvent.event_uid == event.event_uid)
            .order_by(Prediction.row_number)
        ).all()
    assert rows == list(range(1, 10))


def test_the_sweeper_marks_stale_events_interrupted(backend_settings: Settings) -> None:
    settings = backend_settings.model_copy(update={"audit_stale_after": 600.0})
    engine = get_engine(settings)
    stale, fresh = _header(), _header()
    stale_id = begin_event(engine, stale).event_id
    begin_event(engine, fresh)
    with engine.begin() as connection:
        connection.execute(
            update(ScoringEvent)
            .where(ScoringEvent.id == stale_id)
            .values(updated_at=datetime.now(UTC) - timedelta(seconds=601))
        )
    assert sweep_interrupted(settings, force=True) == 1
    assert _stored(settings, stale.event_uid)[0] == "interrupted"
    assert _stored(settings, fresh.event_uid)[0] == "in_progress"


@pytest.mark.timeout(300)
def test_a_long_batch_does_not_lock_out_a_form_score_or_an_alias_move(
    trained_embedded: Trained, tmp_path: Path
) -> None:
    """While a large batch is audited on SQLite, a form score and an alias-history write
    with a 2 s busy timeout commit: the batch holds the write lock one chunk at a time."""
    from core.aliases import set_alias

    live = trained_embedded.settings
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    batch_settings = live.model_copy(update={"database_url": database_url})
    patient = live.model_copy(update={"database_url": database_url, "database_busy_timeout": 2.0})
    header = _header(rows_in=400_000)
    stream = AuditStream(batch_settings, header)
    chunk = _table(50_000)
    half_written = threading.Event()
    others_done = threading.Event()

    def produce() -> None:
        for k in range(8):
            stream.add(chunk)
            if k == 3:
                half_written.set()
                others_done.wait(timeout=120)

    producer = threading.Thread(target=produce)
    producer.start()
    assert half_written.wait(timeout=120)
    for _ in range(600):  # until the batch has committed a chunk (at most 30 s)
        if (_stored(batch_settings, header.event_uid) or ("", 0, 0))[1] >= 1:
            break
        threading.Event().wait(0.05)
    try:
        form = score_record(
            dict.fromkeys(FEATURES, 0.3),
            settings=patient,
            choice=resolve_model(live),
            source_kind="ui",
            actor=analyst("form"),
        )
        set_alias(
            patient, version=1, alias="during-batch", actor=LEAD, reason="test", kind="promote"
        )
        assert _stored(batch_settings, header.event_uid)[0] == "in_progress"  # still going
    finally:
        others_done.set()
        producer.join()
    assert form.audit.stored == "database", form.audit.message
    receipt = stream.finish(replace(header, rows_scored=400_000))
    assert receipt.stored == "database"
    assert count_predictions(batch_settings, header.event_uid) == 400_000


# --------------------------------------------------------------------------- safe text


def _expected_safe(value: str, limit: int) -> str:
    """The documented rule, written out again here (not taken from core)."""
    cleaned = "".join(
        "\ufffd" if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF else c
        for c in value
    )
    if cleaned == value and len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return cleaned[: limit - 17] + "#" + digest


ODD_IDS = [
    "x" * 5000,
    "y" * 5000,  # as long, distinct: stays distinct
    "nul\x00inside",
    "tab\tnew\nline\r\x1b[31mansi\x7f\x85",
    "emoji \U0001f600 \u00e9",
    "lone \ud800 surrogate",
    "plain-id-42",
    None,
]


def test_no_user_value_is_refused_for_its_content(backend_settings: Settings) -> None:
    settings = backend_settings
    event = _header(actor="a\x00" + "b" * 300, input_name="file\x00" + "n" * 5000 + ".csv")
    receipt = log_scoring(settings, event, _table(len(ODD_IDS), ids=ODD_IDS))
    assert receipt.stored == "database", receipt.message
    with Session(get_engine(settings)) as session:
        row = session.scalars(
            select(ScoringEvent).where(ScoringEvent.event_uid == event.event_uid)
        ).one()
        ids = session.scalars(
            select(Prediction.transaction_id)
            .where(Prediction.event_id == row.id)
            .order_by(Prediction.row_number)
        ).all()
    assert row.actor == _expected_safe(event.actor, 128) and len(row.actor) == 128
    assert row.input_name == _expected_safe(event.input_name, 512)
    assert ids == [None if v is None else _expected_safe(v, 128) for v in ODD_IDS]
    assert ids[-2] == "plain-id-42" and ids[4] == "emoji \U0001f600 \u00e9"
    assert len(set(ids[:2])) == 2 and all(len(v) == 128 for v in ids[:2])


def test_a_file_with_long_and_odd_ids_is_scored_and_audited(
    trained: Trained, tmp_path: Path
) -> None:
    settings = trained.settings
    frame = generate_transactions(4, fraud_rate=0.25, seed=2)
    ids = ["z" * 5000, "ctl\x01\x1f\x7f", "emoji \U0001f600", "ok"]
    frame.insert(0, "transaction_id", ids)
    csv = tmp_path / "odd.csv"
    frame.to_csv(csv, index=False)
    result = score_file(
        csv,
        settings=settings,
        choice=resolve_model(settings),
        source_kind="cli",
        actor=analyst("t"),
    )
    assert result.audit.stored == "database", result.audit.message
    with Session(get_engine(settings)) as session:
        stored = session.scalars(
            select(Prediction.transaction_id)
            .join(ScoringEvent, ScoringEvent.id == Prediction.event_id)
            .where(ScoringEvent.event_uid == result.audit.event_uid)
            .order_by(Prediction.row_number)
        ).all()
    assert stored == [_expected_safe(v, 128) for v in ids]


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_a_refusal_at_the_last_step_sets_the_record_aside_without_hanging(
    postgres_databases: dict[str, str], tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, database_url=postgres_databases["app"])
    header = _header()
    stream = AuditStream(settings, header)
    stream.add(_table(3))
    # rows_in beyond PostgreSQL's integer range: the final update fails after the last chunk
    receipt = stream.finish(replace(header, rows_in=2**40, rows_scored=3))
    assert receipt.stored == "set_aside" and "out of range" in receipt.message
    assert count_predictions(settings, header.event_uid) == 0  # never counted as complete
    assert _stored(settings, header.event_uid) == ("interrupted", 1, 3)
    assert pending_spool(settings) == 0
    assert len(list(failed_dir(settings).glob("*.parquet"))) == 1
    assert "out of range" in spool_status(settings).set_aside[0].reason


def test_drift_counts_and_latency_survive_the_spool_and_its_replay(
    trained_embedded: Trained, tmp_path: Path
) -> None:
    live = trained_embedded.settings
    choice = resolve_model(live)
    csv = tmp_path / "batch.csv"
    generate_transactions(300, fraud_rate=0.02, seed=6).to_csv(csv, index=False)
    database = SameDatabase(Settings(home=tmp_path / "unused"), tmp_path)  # SQLite
    registry = {"tracking_uri": live.tracking_uri, "model_name": live.model_name}
    database.down()
    down = database.settings(tmp_path / "home", **registry)
    spooled = score_file(csv, settings=down, choice=choice, source_kind="cli", actor=analyst("a"))
    assert spooled.audit.stored == "spool"
    database.up()
    back = database.settings(tmp_path / "home", **registry)
    assert replay_spool(back, actor=LEAD) == 1
    with Session(get_engine(back)) as session:
        event = session.scalars(
            select(ScoringEvent).where(ScoringEvent.event_uid == spooled.audit.event_uid)
        ).one()
    assert event.drift_counts is not None and event.latency_ms is not None
    counts = DriftCounts.from_json(event.drift_counts)
    assert counts.rows == 300 and counts.columns["V14"].rows == 300
    assert json.loads(event.latency_ms)["counts"].count(1) == 1  # one sample: the call
