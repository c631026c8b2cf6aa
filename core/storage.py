"""The artifact root: a local folder (file://) or an S3 bucket prefix (s3://)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from botocore.exceptions import BotoCoreError, ClientError

from core.config import Settings
from core.errors import BackendError


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str


def parse_s3_url(url: str) -> S3Location:
    parts = urlsplit(url)
    return S3Location(bucket=parts.netloc, prefix=parts.path.lstrip("/"))


def s3_client(settings: Settings):  # type: ignore[no-untyped-def]
    """A boto3 S3 client for the configured endpoint; credentials from the AWS variables."""
    import boto3  # here: an embedded (file://) set-up never needs it
    from botocore.config import Config as BotoConfig

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        config=BotoConfig(connect_timeout=3, read_timeout=10, retries={"max_attempts": 1}),
    )


def check_artifact_root(settings: Settings) -> None:
    """Raise BackendError unless the artifact root can be written (folder) or reached (S3)."""
    root = str(settings.artifact_root)
    if settings.artifact_scheme == "file":
        path = Path(url2pathname(urlsplit(root).path))
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / ".write-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise BackendError(f"artifact folder {path} is not writable: {exc}") from exc
        return
    location = parse_s3_url(root)
    try:
        s3_client(settings).head_bucket(Bucket=location.bucket)
    except (BotoCoreError, ClientError) as exc:
        raise BackendError(
            f"S3 bucket {location.bucket!r} at {settings.s3_endpoint_url or 'AWS'} "
            f"is not reachable: {exc}"
        ) from exc
