"""The REST sidecar as a running server: hot reload, a swap under load, the audit rows, the
database going down midway, and ``workbench serve-api`` as a real process with several
workers (a swap in each, metrics summed over them, the audit flushed at shutdown).

Endpoint and error cases are in tests/test_api.py; the OpenAPI fuzzing in
tests/test_api_schema.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import lightgbm as lgb
import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from sqlalchemy import create_engine, select, text

from api.app import create_app
from core.apikeys import create_api_key
from core.config import Settings
from core.db import Prediction, ScoringEvent
from core.db.engine import dispose_engines
from core.latency import LatencyHistogram
from core.lifecycle import promote
from core.schema import FEATURES
from core.serving import AuditRecorder, LiveModelWatcher
from core.thresholds import set_threshold
from core.tracking import point_mlflow
from core.training import train_model
from tests.conftest import (
    LEAD,
    PG_ADMIN_URL,
    REPO,
    Trained,
    free_port,
    settings_env,
    wait_for_port,
)

FAST = {"api_reload_interval": 0.3, "api_key_refresh": 0.3, "api_audit_flush": 0.2}


def _copy_version(settings: Settings, version: int) -> int:
    """A new version with the same artifacts (so it loads), its own number and tags."""
    client = MlflowClient(str(settings.tracking_uri))
    point_mlflow(settings)
    mv = client.get_model_version(settings.model_name, str(version))
    model_id = mv.model_id or mv.source.removeprefix("models:/")
    made = client.create_model_version(
        settings.model_name, mv.source, run_id=mv.run_id, tags=mv.tags, model_id=model_id
    )
    return int(made.version)


def _tag_threshold(settings: Settings, version: int) -> float:
    mv = MlflowClient(str(settings.tracking_uri)).get_model_version(
        settings.model_name, str(version)
    )
    return float(mv.tags["threshold"])


@pytest.fixture
def lineage(tiny_frame: pd.DataFrame, embedded_home: Path) -> Settings:
    """A model of its own (embedded): version 1 trained and live, version 2 a copy of it
    with another threshold, ready to be promoted."""
    settings = Settings(home=embedded_home, model_name=f"api-{uuid.uuid4().hex[:8]}", **FAST)
    train_model(tiny_frame, settings=settings, actor=LEAD, data_sha256="c" * 64)
    assert _copy_version(settings, 1) == 2
    set_threshold(settings, version=2, value=0.5, reason="a distinct threshold", actor=LEAD)
    return settings


def _transactions(frame: pd.DataFrame, n: int) -> list[dict[str, float | str]]:
    rows = frame.loc[: n - 1, list(FEATURES)].astype(float).to_dict("records")
    return [{**row, "transaction_id": f"tx-{i}"} for i, row in enumerate(rows)]


def _wait_until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def running(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        _wait_until(lambda: client.get("/ready").status_code == 200, timeout=60, what="the model")
        yield client


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --------------------------------------------------------------------------- hot reload


def test_a_promotion_and_a_threshold_change_reach_the_next_requests_without_restart(
    lineage: Settings, tiny_frame: pd.DataFrame
) -> None:
    key = create_api_key(lineage, name="reload-check", actor=LEAD).key
    body = _transactions(tiny_frame, 1)[0]
    with running(lineage) as client:
        first = client.post("/v1/score", json=body, headers=_bearer(key)).json()
        assert first["model"]["version"] == 1
        reloads = _metric(client.get("/metrics").text, "workbench_api_model_reloads_total")
        assert first["threshold"] == pytest.approx(_tag_threshold(lineage, 1))

        promote(lineage, version=2, alias="champion", reason="api test", actor=LEAD, force=True)
        _wait_until(
            lambda: (
                client.post("/v1/score", json=body, headers=_bearer(key)).json()["model"]["version"]
                == 2
            ),
            timeout=15,
            what="version 2 to be served",
        )
        after = client.post("/v1/score", json=body, headers=_bearer(key)).json()
        assert after["threshold"] == 0.5  # version 2's own threshold came with it
        assert client.get("/v1/model", headers=_bearer(key)).json()["version"] == 2
        after_swap = _metric(client.get("/metrics").text, "workbench_api_model_reloads_total")
        assert after_swap[0] - reloads[0] == 1

        set_threshold(lineage, version=2, value=0.25, reason="lower", actor=LEAD)
        _wait_until(
            lambda: (
                client.post("/v1/score", json=body, headers=_bearer(key)).json()["threshold"]
                == 0.25
            ),
            timeout=15,
            what="the new threshold",
        )


def test_a_move_to_a_version_without_a_threshold_keeps_the_old_one_and_says_why(
    lineage: Settings, tiny_frame: pd.DataFrame
) -> None:
    key = create_api_key(lineage, name="admin-check", scopes=("admin",), actor=LEAD).key
    broken = _copy_version(lineage, 1)
    client_mlflow = MlflowClient(str(lineage.tracking_uri))
    client_mlflow.set_model_version_tag(lineage.model_name, str(broken), "threshold", "abc")
    with running(lineage) as client:
        # moved outside the workbench, straight in MLflow, to a version that cannot decide
        client_mlflow.set_registered_model_alias(lineage.model_name, "champion", str(broken))
        reload = client.post("/v1/reload", headers=_bearer(key)).json()
        assert reload["changed"] is False
        assert f"version {broken}" in reload["problem"]
        assert "still serving version 1" in reload["problem"]
        answer = client.post(
            "/v1/score", json=_transactions(tiny_frame, 1)[0], headers=_bearer(key)
        )
        assert answer.status_code == 200 and answer.json()["model"]["version"] == 1
        assert client.get("/ready").json()["problem"] == reload["problem"]
        model = client.get("/v1/model", headers=_bearer(key)).json()
        assert model["version"] == 1 and model["reload_problem"] == reload["problem"]


def test_requests_during_a_swap_all_succeed_each_on_one_version(
    lineage: Settings, tiny_frame: pd.DataFrame
) -> None:
    key = create_api_key(lineage, name="load", actor=LEAD).key
    bodies = _transactions(tiny_frame, 50)
    thresholds = {1: _tag_threshold(lineage, 1), 2: 0.5}
    answers: dict[int, list[tuple[int, dict]]] = {w: [] for w in range(5)}
    stop = threading.Event()
    with running(lineage) as client:

        def send(worker: int) -> None:
            i = 0
            while not stop.is_set() and i < 5000:  # bounded, whatever happens
                response = client.post(
                    "/v1/score", json=bodies[(worker * 7 + i) % 50], headers=_bearer(key)
                )
                answers[worker].append((response.status_code, response.json()))
                i += 1

        threads = [threading.Thread(target=send, args=(w,)) for w in range(5)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        promote(lineage, version=2, alias="champion", reason="under load", actor=LEAD, force=True)
        _wait_until(
            lambda: any(b["model"]["version"] == 2 for a in answers.values() for _, b in a[-3:]),
            timeout=30,
            what="version 2 under load",
        )
        time.sleep(0.3)  # and some more requests on the new version
        # at least 200 in all, however slow the machine (a count, not a time window)
        _wait_until(
            lambda: sum(len(a) for a in answers.values()) >= 200, timeout=120, what="200 answers"
        )
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    everything = [answer for worker in answers.values() for answer in worker]
    assert len(everything) >= 200
    assert all(status == 200 for status, _ in everything), everything[:3]
    assert {body["model"]["version"] for _, body in everything} == {1, 2}
    # the audit log has each request under the version that answered it (one event per
    # flush and version: the flushes during the swap held both)
    events = _api_events(lineage, "load")
    for version in (1, 2):
        answered = sum(body["model"]["version"] == version for _, body in everything)
        assert events.loc[events["model_version"] == version, "rows_scored"].sum() == answered
    for worker in answers.values():
        versions = [body["model"]["version"] for _, body in worker]
        # each client saw the old version, then the new one, never the old one again
        assert versions == sorted(versions)
        for _, body in worker:  # a response's threshold and decision are its version's own
            assert body["threshold"] == pytest.approx(thresholds[body["model"]["version"]])
            assert body["alert"] == (body["probability"] >= body["threshold"])


# --------------------------------------------------------------------------- audit


def _api_events(settings: Settings, actor: str) -> pd.DataFrame:
    engine = create_engine(str(settings.database_url))
    try:
        with engine.connect() as connection:
            return pd.read_sql(
                select(ScoringEvent).where(
                    ScoringEvent.source == "api", ScoringEvent.actor == actor
                ),
                connection,
            )
    finally:
        engine.dispose()


def _api_predictions(settings: Settings, actor: str) -> pd.DataFrame:
    engine = create_engine(str(settings.database_url))
    try:
        with engine.connect() as connection:
            return pd.read_sql(
                select(Prediction.transaction_id, Prediction.probability, Prediction.reasons)
                .join(ScoringEvent, ScoringEvent.id == Prediction.event_id)
                .where(ScoringEvent.source == "api", ScoringEvent.actor == actor),
                connection,
            )
    finally:
        engine.dispose()


def test_every_prediction_is_audited_with_the_key_name_latency_and_drift_counts(
    trained: Trained, tiny_frame: pd.DataFrame
) -> None:
    settings = trained.settings.model_copy(update=FAST)
    name = f"client-{uuid.uuid4().hex[:6]}"
    key = create_api_key(settings, name=name, actor=LEAD).key
    bodies = _transactions(tiny_frame, 12)
    with running(settings) as client:
        for body in bodies[:10]:
            assert client.post("/v1/score", json=body, headers=_bearer(key)).status_code == 200
        batch = {"transactions": bodies[10:12]}
        assert client.post("/v1/score/batch", json=batch, headers=_bearer(key)).status_code == 200
        explained = client.post("/v1/score?explain=true", json=bodies[0], headers=_bearer(key))
        assert explained.status_code == 200
    # leaving the block stopped the app, which flushes what was still waiting
    events = _api_events(settings, name)
    assert events["rows_scored"].sum() == 13
    assert (events["status"] == "complete").all()
    assert set(events["model_version"]) == {trained.result.version}
    samples = sum(LatencyHistogram.from_json(t).samples for t in events["latency_ms"])
    assert samples == 12  # one latency sample per request: 10 single, 1 batch, 1 explained
    assert events["drift_counts"].notna().all()
    rows = json.loads(events["drift_counts"].iloc[0])
    assert rows  # counted on the version's drift bins
    predictions = _api_predictions(settings, name)
    assert sorted(predictions["transaction_id"]) == sorted(
        [b["transaction_id"] for b in bodies] + [bodies[0]["transaction_id"]]
    )
    assert predictions["reasons"].notna().sum() == 1  # only the explained request


# --------------------------------------------------------------------------- database down


@pytest.mark.integration
def test_the_database_going_down_spools_the_audit_and_scoring_goes_on(
    postgres_databases: dict[str, str], tiny_frame: pd.DataFrame, tmp_path: Path
) -> None:
    admin = create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg2://", 1),
        isolation_level="AUTOCOMMIT",
    )
    name = f"api_down_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres_databases["app"].rsplit("/", 1)[0] + f"/{name}"
    settings = Settings(
        home=tmp_path / "home", database_url=url, model_name=f"down-{name[-8:]}", **FAST
    )
    train_model(tiny_frame, settings=settings, actor=LEAD, data_sha256="d" * 64)
    key = create_api_key(settings, name="while-down", actor=LEAD).key
    bodies = _transactions(tiny_frame, 6)

    def refuse(allow: bool) -> None:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allow}'))
            if not allow:
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name"
                    ),
                    {"name": name},
                )

    try:
        with running(settings) as client:
            before = client.get("/metrics").text
            refuse(False)
            dispose_engines()  # our pooled connections were ended with the sessions
            for body in bodies[:3]:
                response = client.post("/v1/score", json=body, headers=_bearer(key))
                assert response.status_code == 200  # the keys are cached; scoring goes on
            spooled = "workbench_api_audit_spooled_total"
            _wait_until(  # all three records spooled (flushes lag on a slow machine)
                lambda: (
                    (body := client.get("/ready").json())["audit_spool_pending"] >= 1
                    and body["database"] == "unreachable"
                    and _metric(client.get("/metrics").text, spooled)[0]
                    - _metric(before, spooled)[0]
                    >= 3
                ),
                timeout=60,
                what="the audit records to be spooled and the key refresh to fail",
            )
            ready = client.get("/ready")
            assert ready.status_code == 200  # the database does not gate readiness
            assert ready.json()["database"] == "unreachable"
            metrics = client.get("/metrics").text
            for kind, change in (("spooled", 3), ("records", 0)):  # records: written
                metric = f"workbench_api_audit_{kind}_total"
                assert _metric(metrics, metric)[0] - _metric(before, metric)[0] == change

            refuse(True)
            for body in bodies[3:]:
                assert client.post("/v1/score", json=body, headers=_bearer(key)).status_code == 200
        # the next flush replayed the spool first, then wrote its own records
        predictions = _api_predictions(settings, "while-down")
        assert sorted(predictions["transaction_id"]) == sorted(b["transaction_id"] for b in bodies)
    finally:
        refuse(True)
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --------------------------------------------------------------------------- real process


@contextmanager
def serve_api(
    settings: Settings, tmp_path: Path, *, workers: int, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    env = {
        **os.environ,
        **settings_env(settings),
        "WORKBENCH_API_RELOAD_INTERVAL": "0.5",
        "WORKBENCH_API_KEY_REFRESH": "0.5",
        "WORKBENCH_API_AUDIT_FLUSH": "0.3",
        **(extra_env or {}),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "serve-api.log").open("wb")
    command = [sys.executable, "-m", "cli.main", "serve-api", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--workers", str(workers)],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_for_port(port, timeout=90, process=process), (
            tmp_path / "serve-api.log"
        ).read_text()[-3000:]
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/ready", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _metric(text_: str, name: str, **labels: str) -> list[float]:
    values = []
    for line in text_.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            values.append(float(line.rsplit(" ", 1)[1]))
    return values


@pytest.mark.timeout(300)
def test_two_workers_each_swap_share_their_metrics_and_flush_the_audit_on_stop(
    lineage: Settings, tiny_frame: pd.DataFrame, tmp_path: Path
) -> None:
    key = create_api_key(lineage, name="two-workers", actor=LEAD).key
    bodies = _transactions(tiny_frame, 40)
    with serve_api(lineage, tmp_path, workers=2) as (base, process):
        _wait_until(lambda: _ready(base), timeout=90, what="a worker")

        def both_loaded() -> bool:
            # /ready answers for whichever worker took the connection; the live gauge has
            # one sample per worker, 0 until that worker has its model
            text_ = requests.get(f"{base}/metrics", timeout=10).text
            return sorted(_metric(text_, "workbench_api_model_version")) == [1.0, 1.0]

        _wait_until(both_loaded, timeout=90, what="both workers to load version 1")

        sent = [0]

        def score_all(chunk: list[dict]) -> set[int]:
            versions = set()
            for body in chunk:  # a new connection each: the workers share the socket
                sent[0] += 1
                response = requests.post(
                    f"{base}/v1/score", json=body, headers=_bearer(key), timeout=10
                )
                assert response.status_code == 200, response.text
                versions.add(response.json()["model"]["version"])
            return versions

        assert score_all(bodies[:20]) == {1}
        promote(lineage, version=2, alias="champion", reason="workers", actor=LEAD, force=True)
        # ten new connections in a row answered by version 2: were one worker still on 1,
        # about half would go to it (the chance of ten misses is 1 in 1,024)
        _wait_until(lambda: score_all(bodies[20:30]) == {2}, timeout=60, what="both workers on 2")
        assert score_all(bodies[30:]) == {2}, "a worker kept the old version"

        metrics = requests.get(f"{base}/metrics", timeout=10).text
        served = _metric(metrics, "workbench_api_requests_total", route="/v1/score", status="200")
        assert sum(served) == sent[0]  # summed over both workers, whichever one answered
        versions = _metric(metrics, "workbench_api_model_version")
        assert sorted(versions) == [2.0, 2.0], metrics  # one live sample per worker
        predicted = sum(_metric(metrics, "workbench_api_predictions_total"))
        assert predicted == sum(served)
        process.send_signal(signal.SIGTERM)  # what docker and systemd send
        assert process.wait(timeout=60) == 0
    predictions = _api_predictions(lineage, "two-workers")
    assert len(predictions) == predicted  # every answer was audited, the last ones at stop
    assert set(predictions["transaction_id"]) == {b["transaction_id"] for b in bodies}


def test_serve_api_stays_up_when_the_registry_is_unreachable_and_says_so(
    tmp_path: Path,
) -> None:
    settings = Settings(home=tmp_path / "home", tracking_uri=f"http://127.0.0.1:{free_port()}")
    with serve_api(
        settings, tmp_path, workers=1, extra_env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    ) as (base, _):
        assert requests.get(f"{base}/health", timeout=5).status_code == 200
        _wait_until(
            lambda: (
                "cannot read" in (requests.get(f"{base}/ready", timeout=5).json()["problem"] or "")
            ),
            timeout=60,
            what="the registry problem to show",
        )
        ready = requests.get(f"{base}/ready", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        assert "Traceback" not in ready.text


# --------------------------------------------------------------------------- failures


def test_a_version_that_fails_to_warm_leaves_the_old_one_serving_and_says_why(
    lineage: Settings, tiny_frame: pd.DataFrame
) -> None:
    # a LightGBM booster of 31 features, logged without a signature: it loads, and fails
    # on its first prediction of our 30
    rng = np.random.default_rng(0)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_leaves": 4},
        lgb.Dataset(rng.normal(size=(200, 31)), rng.integers(0, 2, 200)),
        num_boost_round=2,
    )
    point_mlflow(lineage)
    mlflow.set_experiment(lineage.experiment_name)
    with mlflow.start_run():
        mlflow.lightgbm.log_model(
            booster,
            name="model",
            registered_model_name=lineage.model_name,
            pip_requirements=["lightgbm"],
        )
    client_mlflow = MlflowClient(str(lineage.tracking_uri))
    client_mlflow.set_model_version_tag(lineage.model_name, "3", "threshold", "0.5")
    key = create_api_key(lineage, name="warm-check", scopes=("admin",), actor=LEAD).key
    with running(lineage) as client:
        client_mlflow.set_registered_model_alias(lineage.model_name, "champion", "3")
        reload = client.post("/v1/reload", headers=_bearer(key))
        assert reload.status_code == 200, reload.text  # not a 500
        assert reload.json()["changed"] is False
        problem = reload.json()["problem"]
        assert "cannot load" in problem and "version 3" in problem
        assert problem.endswith("still serving version 1")
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["problem"] == problem
        body = _transactions(tiny_frame, 1)[0]
        answer = client.post("/v1/score", json=body, headers=_bearer(key))
        assert answer.status_code == 200 and answer.json()["model"]["version"] == 1


def test_audit_records_that_cannot_even_be_spooled_wait_for_the_next_flush(
    trained_embedded: Trained, tiny_frame: pd.DataFrame, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("a regular file: nothing can be opened under it\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "spool").write_text("not a folder: the spool cannot be written\n")
    broken = trained_embedded.settings.model_copy(
        update={"home": home, "database_url": f"sqlite:///{blocker}/app.db"}
    )
    watcher = LiveModelWatcher(trained_embedded.settings)  # the model from healthy stores
    assert watcher.check()
    recorder = AuditRecorder(broken)
    features = tiny_frame.loc[:1, list(FEATURES)].to_numpy(dtype=np.float64)
    for actor in ("client-a", "client-b"):
        recorder.record(
            watcher.current,
            actor=actor,
            features=features,
            probability=np.array([0.1, 0.9]),
            decision=np.array([0, 1], dtype=np.int8),
            transaction_ids=["t1", "t2"],
            latency_ms=1.0,
        )
    assert recorder.flush() == []
    assert recorder.pending == 2  # both requests kept, not dropped
    assert "cannot be written or spooled" in (recorder.problem or "")
    (home / "spool").unlink()  # the disk is writable again; the database still is not
    receipts = recorder.flush()
    assert [r.stored for r in receipts] == ["spool", "spool"]
    assert recorder.pending == 0 and recorder.problem is None
