"""Loading versions concurrently: a slow download of one version (the app's prewarm of the
live one) does not hold up another version's load; two callers of one version share one
download.

The slowness is outside this machine's code: an S3 endpoint (a pass-through proxy to the
SeaweedFS fixture, written here) that holds the first download of a model file until the
test lets it go (boto3 retries a GET after its 60 s read timeout; the retry passes).
Nothing of ours is mocked; nothing waits on a clock except a generous deadlock guard.
"""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import lightgbm as lgb
import mlflow
import pandas as pd
import pytest

from core.config import Settings
from core.registry import LoadedModel, get_version, load_model
from core.tracking import use_tracking
from core.training.split import split_by_time
from core.training.train import _xy
from tests.conftest import S3Server

GUARD = 120.0
"""Seconds a load may take before the test calls it blocked (a failure, never a pass)."""
MODEL_FILE = "/model.lgb"


class HoldingS3:
    """A pass-through HTTP proxy to an S3 server that holds the first GET of a model file
    until :meth:`release`; every request is forwarded as sent (the signed Host included)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream).netloc
        self.holding = threading.Event()  # the first model download has arrived
        self._released = threading.Event()
        self.model_gets: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                path = self.path.split("?", 1)[0]
                if self.command == "GET" and path.endswith(MODEL_FILE):
                    with proxy._lock:
                        proxy.model_gets.append(path)
                        first = len(proxy.model_gets) == 1
                    if first:
                        proxy.holding.set()
                        proxy._released.wait()
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection(proxy.upstream, timeout=60)
                upstream.request(self.command, self.path, body=body, headers=dict(self.headers))
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def holding_s3(s3_server: S3Server) -> Iterator[HoldingS3]:
    proxy = HoldingS3(s3_server.endpoint)
    yield proxy
    proxy.close()


def _log_two_versions(settings: Settings, frame: pd.DataFrame) -> tuple[int, int]:
    """Two small LightGBM versions, logged with MLflow's own calls straight to S3."""
    x, y = _xy(split_by_time(frame).train)
    use_tracking(settings)
    versions = []
    for trees in (5, 6):
        booster = lgb.LGBMClassifier(n_estimators=trees, verbose=-1).fit(x, y).booster_
        with mlflow.start_run():
            logged = mlflow.lightgbm.log_model(booster, name="model", pip_requirements=["x"])
        versions.append(int(mlflow.register_model(logged.model_uri, settings.model_name).version))
    return versions[0], versions[1]


def _load_in_thread(settings: Settings, version: int) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["model"] = load_model(settings, get_version(settings, version, with_metrics=False))
        except Exception as exc:  # reported by the test, not lost in the thread
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_a_slow_download_of_one_version_does_not_block_another(
    s3_server: S3Server,
    holding_s3: HoldingS3,
    tiny_frame: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_server.endpoint)  # restored afterwards
    direct = Settings(
        home=tmp_path / "home",
        artifact_root=f"s3://{s3_server.bucket}/slow-{uuid.uuid4().hex[:8]}",
        s3_endpoint_url=s3_server.endpoint,
        model_name=f"slow-{uuid.uuid4().hex[:8]}",
    )
    slow, other = _log_two_versions(direct, tiny_frame)
    through_proxy = direct.model_copy(update={"s3_endpoint_url": holding_s3.endpoint})

    first, first_out = _load_in_thread(through_proxy, slow)
    try:
        assert holding_s3.holding.wait(GUARD), "the slow version's download never started"
        second, second_out = _load_in_thread(through_proxy, slow)  # waits for the first
        # while version `slow` is held mid-download, version `other` loads
        other_thread, other_out = _load_in_thread(through_proxy, other)
        other_thread.join(GUARD)
        assert not other_thread.is_alive(), "loading another version waited for the held one"
        assert "error" not in other_out, other_out
        assert isinstance(other_out["model"], LoadedModel)
        # still held (or boto3 gave up on it after its 60 s read timeout and retried,
        # which only a load that waited for it would live to see)
        assert first.is_alive(), "the other version loaded only after the held download"
    finally:
        holding_s3.release()
    for thread in (first, second):
        thread.join(GUARD)
        assert not thread.is_alive()
    assert "error" not in first_out and "error" not in second_out, (first_out, second_out)
    # one download of the slow version, shared by both callers
    assert first_out["model"].adapter is second_out["model"].adapter
    slow_gets = [p for p in holding_s3.model_gets if p == holding_s3.model_gets[0]]
    assert len(slow_gets) == 1, holding_s3.model_gets
