"""The batch page's downloads, streamed from the session's files on disk (issue 13).

``app/serve.py`` mounts :func:`route` on the server; the batch page then links each
download (:func:`link`) instead of handing Streamlit the bytes, which Streamlit would hold
in memory while it serves them. A CSV is written from the Parquet file one batch at a time
while it is sent (``core.safe_csv.iter_safe_csv``) and a Parquet file is sent from disk in
blocks, so a download of any size holds one batch in the server's memory.

A link is a capability, as Streamlit's own media links are: it names the session's folder
and carries an HMAC of what it serves and until when (:data:`LINK_TTL`: an hour) under a
key made when the server process starts, so it can be neither guessed nor altered nor
kept: it dies after the hour or with the process (the page makes a new one on every run).
An expired link answers 403, and once the sweep or a newer file has removed the results,
410, each with a sentence saying so. Where the route is not mounted (``streamlit run
app/main.py``, AppTest) :func:`link` gives None and the page uses ``st.download_button``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Final

import pyarrow.parquet as pq
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from core.config import get_settings
from core.errors import WorkbenchError
from core.safe_csv import iter_safe_csv
from core.scoring.batch_files import BatchFiles, batches_folder

CSV_BATCH_ROWS = 50_000
"""Rows written and sent at a time in a CSV download."""
FILE_BLOCK = 1 << 20
"""Bytes sent at a time in a Parquet download."""
_KEY: Final = secrets.token_bytes(32)
_FOLDER = re.compile(r"[0-9a-f]{32}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_mounted: list[str] = []  # the base path, once the server has mounted the route

LINK_TTL = 3600
"""Seconds a download link works; the page makes a new one on every run."""
EXPIRED = (
    "This download link has expired (links work for an hour). Open the Batch scoring page "
    "again: its download buttons carry new links while the results are kept."
)
GONE = (
    "These batch results are no longer on the server: they are removed when a newer file "
    "is scored in the same browser session, and after the time set by "
    "WORKBENCH_BATCH_MAX_AGE. Score the file again on the Batch scoring page."
)


@dataclass(frozen=True)
class _Kind:
    parquet: str  # which of the run's files: "scored" or "rejected"
    csv: bool
    media_type: str


KINDS: Final = {
    "scored.csv": _Kind("scored", True, "text/csv"),
    "scored.parquet": _Kind("scored", False, "application/vnd.apache.parquet"),
    "rejected.csv": _Kind("rejected", True, "text/csv"),
}


def route(base_path: str = "") -> Route:
    """The download route, under the server's ``server.baseUrlPath`` (``base_path``)."""
    base = _prefix(base_path)
    path = f"{base}/downloads/{{session}}/{{run}}/{{kind}}/{{expires:int}}/{{signature}}/{{name}}"
    return Route(path, _serve)


def enable(base_path: str = "") -> None:
    """Called by the server once the route is mounted: pages link to it from now on."""
    _mounted[:] = [_prefix(base_path)]


def _prefix(base_path: str) -> str:
    """``server.baseUrlPath`` as a path prefix: ``"fraud/"`` -> ``"/fraud"``, none -> ``""``."""
    stripped = base_path.strip("/")
    return f"/{stripped}" if stripped else ""


def link(files: BatchFiles, kind: str, name: str, *, now: float | None = None) -> str | None:
    """The address that streams one of ``files`` (a key of :data:`KINDS`) as ``name`` until
    :data:`LINK_TTL` seconds from ``now``, or None where the server has no download route."""
    if not _mounted:
        return None
    if kind not in KINDS:
        raise ValueError(f"not a download kind: {kind!r}")
    session, run = files.folder.parent.name, files.folder.name
    name = _UNSAFE.sub("_", name).strip("._") or f"batch.{kind}"
    expires = int(time.time() if now is None else now) + LINK_TTL
    signature = _sign(session, run, kind, expires, name)
    return f"{_mounted[0]}/downloads/{session}/{run}/{kind}/{expires}/{signature}/{name}"


def _sign(session: str, run: str, kind: str, expires: int, name: str) -> str:
    message = f"{session}/{run}/{kind}/{expires}/{name}".encode()
    return hmac.new(_KEY, message, hashlib.sha256).hexdigest()[:32]


def _serve(request: Request) -> Response:
    """A plain function: Starlette runs it in a worker thread, so the file lock and the
    reads never hold up the server's event loop (every page's messages go through it)."""
    params = request.path_params
    session, run, kind_name, expires, signature, name = (
        params[k] for k in ("session", "run", "kind", "expires", "signature", "name")
    )
    kind = KINDS.get(kind_name)
    if (
        kind is None
        or not (_FOLDER.fullmatch(session) and _FOLDER.fullmatch(run))
        or not hmac.compare_digest(signature, _sign(session, run, kind_name, expires, name))
    ):
        return PlainTextResponse("Not found.", status_code=404)
    if time.time() > expires:
        return PlainTextResponse(EXPIRED, status_code=403)
    files = BatchFiles(batches_folder(get_settings()) / session / run)
    source = files.scored if kind.parquet == "scored" else files.rejected
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",  # uploaded transactions: no copy in shared caches
    }
    try:
        # Opened now: a sweep while the file is sent unlinks it, and an open file stays
        # readable to the end.
        handle = source.open("rb")
    except FileNotFoundError:
        return PlainTextResponse(GONE, status_code=410)
    try:
        # a download is use, so the sweep keeps the session; never wait for the sweep
        with contextlib.suppress(WorkbenchError):
            files.touch(timeout=0)
        if kind.csv:
            batches = pq.ParquetFile(handle).iter_batches(batch_size=CSV_BATCH_ROWS)
            body = _closing(iter_safe_csv(batches), handle)
        else:
            headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
            body = _closing(iter(lambda: handle.read(FILE_BLOCK), b""), handle)
    except BaseException:
        handle.close()
        raise
    return StreamingResponse(body, media_type=kind.media_type, headers=headers)


def _closing(chunks: Iterator[bytes], handle: BinaryIO) -> Iterator[bytes]:
    """``chunks``, then ``handle`` closed (also when the client goes away mid-way)."""
    try:
        yield from chunks
    finally:
        handle.close()
