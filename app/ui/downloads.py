"""The batch page's downloads, streamed from the session's files on disk (issue 13).

``app/serve.py`` mounts :func:`route` on the server; the batch page then links each
download (:func:`link`) instead of handing Streamlit the bytes, which Streamlit would hold
in memory while it serves them. A CSV is written from the Parquet file one batch at a time
while it is sent (``core.safe_csv.iter_safe_csv``) and a Parquet file is sent from disk in
blocks, so a download of any size holds one batch in the server's memory.

A link is a capability, as Streamlit's own media links are: it names the session's folder
and carries an HMAC of what it serves under a key made when the server process starts, so
it can be neither guessed nor altered, and it dies with the process (the page makes a new
one on its next run). Once the sweep or a newer file has removed the results, the link
answers 410 with a sentence saying so. Where the route is not mounted (``streamlit run
app/main.py``, AppTest) :func:`link` gives None and the page uses ``st.download_button``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
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
    base = "/" + base_path.strip("/") if base_path.strip("/") else ""
    return Route(f"{base}/downloads/{{session}}/{{run}}/{{kind}}/{{signature}}/{{name}}", _serve)


def enable(base_path: str = "") -> None:
    """Called by the server once the route is mounted: pages link to it from now on."""
    _mounted[:] = ["/" + base_path.strip("/") if base_path.strip("/") else ""]


def link(files: BatchFiles, kind: str, name: str) -> str | None:
    """The address that streams one of ``files`` (a key of :data:`KINDS`) as ``name``, or
    None where the server has no download route."""
    if not _mounted:
        return None
    if kind not in KINDS:
        raise ValueError(f"not a download kind: {kind!r}")
    session, run = files.folder.parent.name, files.folder.name
    name = _UNSAFE.sub("_", name).strip("._") or f"batch.{kind}"
    signature = _sign(session, run, kind, name)
    return f"{_mounted[0]}/downloads/{session}/{run}/{kind}/{signature}/{name}"


def _sign(session: str, run: str, kind: str, name: str) -> str:
    message = f"{session}/{run}/{kind}/{name}".encode()
    return hmac.new(_KEY, message, hashlib.sha256).hexdigest()[:32]


async def _serve(request: Request) -> Response:
    session, run, kind_name, signature, name = (
        request.path_params[k] for k in ("session", "run", "kind", "signature", "name")
    )
    kind = KINDS.get(kind_name)
    if (
        kind is None
        or not (_FOLDER.fullmatch(session) and _FOLDER.fullmatch(run))
        or not hmac.compare_digest(signature, _sign(session, run, kind_name, name))
    ):
        return PlainTextResponse("Not found.", status_code=404)
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
    with contextlib.suppress(WorkbenchError):  # the sweep's lock busy: the file is open
        files.touch()  # a download is use: the sweep keeps the session
    if kind.csv:
        batches = pq.ParquetFile(handle).iter_batches(batch_size=CSV_BATCH_ROWS)
        body = _closing(iter_safe_csv(batches), handle)
    else:
        headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
        body = _closing(iter(lambda: handle.read(FILE_BLOCK), b""), handle)
    return StreamingResponse(body, media_type=kind.media_type, headers=headers)


def _closing(chunks: Iterator[bytes], handle: BinaryIO) -> Iterator[bytes]:
    """``chunks``, then ``handle`` closed (also when the client goes away mid-way)."""
    try:
        yield from chunks
    finally:
        handle.close()
