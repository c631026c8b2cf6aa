"""The batch page's streamed downloads (app/ui/downloads.py): the route app/serve.py mounts,
served here by Starlette's test client over real files in a real home."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from app.ui import downloads
from core.config import Settings
from core.output import ParquetSink
from core.scoring.batch_files import BatchFiles, lock_batches, new_batch_files, new_session_id


@pytest.fixture
def files(workbench_env: pytest.MonkeyPatch, tmp_path: Path) -> BatchFiles:
    """One scored run in a session folder of the process's home: 5 scored rows written in
    two chunks (one id starts like a formula), one rejected row."""
    workbench_env.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    run = new_batch_files(Settings(home=tmp_path / "home"), new_session_id())
    sink = ParquetSink(run.scored)
    sink.write(
        pd.DataFrame(
            {"row": [1, 2, 3], "transaction_id": ["=cmd()", "t2", "t3"], "V1": [-2.0, 1.5, 0.25]}
        ),
        pd.DataFrame({"row": [9], "reason": ["V1: bad"], "V1": ["@SUM(A1)"]}),
    )
    sink.write(
        pd.DataFrame({"row": [4, 5], "transaction_id": ["t4", "+t5"], "V1": [3.0, -0.5]}),
        pd.DataFrame(),
    )
    sink.close()
    return run


@pytest.fixture
def client() -> Iterator[TestClient]:
    """The route as the server mounts it, with pages linking to it, restored after."""
    mounted = list(downloads._mounted)
    downloads.enable("")
    try:
        with TestClient(Starlette(routes=[downloads.route("")])) as test_client:
            yield test_client
    finally:
        downloads._mounted[:] = mounted


def test_the_scored_csv_streams_every_row_spreadsheet_safe(
    files: BatchFiles, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(downloads, "CSV_BATCH_ROWS", 2)  # several batches: one header
    url = downloads.link(files, "scored.csv", "my file.scored.csv")
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="my_file.scored.csv"'
    assert answer.headers["cache-control"] == "no-store"
    assert answer.text.count("transaction_id") == 1
    scored = pd.read_csv(io.StringIO(answer.text))
    assert scored["row"].tolist() == [1, 2, 3, 4, 5]
    assert scored["transaction_id"].tolist() == ["'=cmd()", "t2", "t3", "t4", "'+t5"]
    assert scored["V1"].tolist() == [-2.0, 1.5, 0.25, 3.0, -0.5]  # numbers stay numbers


def test_the_rejected_csv_and_the_parquet_file(files: BatchFiles, client: TestClient) -> None:
    rejected = pd.read_csv(
        io.StringIO(client.get(downloads.link(files, "rejected.csv", "r.csv")).text)
    )
    assert rejected.to_dict("list") == {"row": [9], "reason": ["V1: bad"], "V1": ["'@SUM(A1)"]}
    answer = client.get(downloads.link(files, "scored.parquet", "s.parquet"))
    assert answer.content == files.scored.read_bytes()  # the file as it is, raw values
    assert answer.headers["content-length"] == str(files.scored.stat().st_size)


def test_a_link_cannot_be_altered_or_pointed_elsewhere(
    files: BatchFiles, client: TestClient
) -> None:
    url = downloads.link(files, "scored.csv", "a.csv")
    *head, signature, name = url.split("/")
    assert client.get(url).status_code == 200
    assert client.get("/".join([*head, signature, "b.csv"])).status_code == 404  # renamed
    assert client.get("/".join([*head, "0" * 32, name])).status_code == 404  # forged
    parquet = url.replace("/scored.csv/", "/scored.parquet/")
    assert client.get(parquet).status_code == 404  # another file, same signature
    other = new_session_id()
    assert client.get(url.replace(files.folder.parent.name, other)).status_code == 404
    assert client.get(url.replace("/scored.csv/", "/upload.csv/")).status_code == 404
    with pytest.raises(ValueError, match="not a download kind"):
        downloads.link(files, "upload.csv", "a.csv")


def test_results_removed_by_the_sweep_say_so(files: BatchFiles, client: TestClient) -> None:
    url = downloads.link(files, "scored.csv", "a.csv")
    files.remove()
    answer = client.get(url)
    assert answer.status_code == 410
    assert "no longer on the server" in answer.text and "Score the file again" in answer.text


def test_a_download_keeps_the_session_from_the_sweep(files: BatchFiles, client: TestClient) -> None:
    old = files.folder.parent.stat().st_mtime - 48 * 3600
    os.utime(files.folder.parent, (old, old))
    client.get(downloads.link(files, "scored.parquet", "a.parquet"))
    assert files.folder.parent.stat().st_mtime > old + 47 * 3600


def test_pages_link_only_where_the_server_mounts_the_route(files: BatchFiles) -> None:
    mounted = list(downloads._mounted)
    try:
        downloads._mounted.clear()
        assert downloads.link(files, "scored.csv", "a.csv") is None  # AppTest, app/main.py
        downloads.enable("/fraud/")  # server.baseUrlPath
        url = downloads.link(files, "scored.csv", "a.csv")
        assert url is not None and url.startswith("/fraud/downloads/")
        assert downloads.route("/fraud/").path.startswith("/fraud/downloads/")
    finally:
        downloads._mounted[:] = mounted


def test_a_link_expires_and_its_time_cannot_be_stretched(
    files: BatchFiles, client: TestClient
) -> None:
    old = downloads.link(files, "scored.csv", "a.csv", now=time.time() - 2 * downloads.LINK_TTL)
    answer = client.get(old)
    assert answer.status_code == 403 and "expired" in answer.text
    *head, _expires, signature, name = old.split("/")
    later = "/".join([*head, str(int(time.time()) + 3600), signature, name])
    assert client.get(later).status_code == 404  # the expiry is signed
    assert client.get(downloads.link(files, "scored.csv", "a.csv")).status_code == 200


@pytest.mark.timeout(20)  # a download that waited for the lock would take 30 s
def test_a_download_never_waits_for_the_sweeps_lock(files: BatchFiles, client: TestClient) -> None:
    held, done = threading.Event(), threading.Event()

    def sweep() -> None:  # another session's sweep holds the lock meanwhile
        with lock_batches(files.folder.parent.parent):
            held.set()
            done.wait(60)

    thread = threading.Thread(target=sweep)
    thread.start()
    try:
        assert held.wait(10)
        answer = client.get(downloads.link(files, "scored.parquet", "a.parquet"))
        assert answer.status_code == 200 and answer.content == files.scored.read_bytes()
    finally:
        done.set()
        thread.join()


def test_the_route_serves_under_the_servers_base_path(files: BatchFiles) -> None:
    mounted = list(downloads._mounted)
    downloads.enable("fraud")
    try:
        with TestClient(Starlette(routes=[downloads.route("fraud")])) as test_client:
            url = downloads.link(files, "scored.csv", "a.csv")
            assert url.startswith("/fraud/downloads/")
            assert test_client.get(url).status_code == 200
    finally:
        downloads._mounted[:] = mounted
