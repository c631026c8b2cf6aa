"""One typed settings object, read from ``WORKBENCH_*`` environment variables once.

Every backend has an embedded default under ``WORKBENCH_HOME`` (SQLite files and a local
folder) and a real one chosen by URL. Explicit arguments beat the environment, which beats
the defaults: ``Settings(home=...)`` in code, ``WORKBENCH_HOME=...`` in the shell.

The default home is the user's data directory (``platformdirs``: on Linux
``$XDG_DATA_HOME/fraud-workbench``, usually ``~/.local/share/fraud-workbench``), the same
from whichever folder a command runs, so ``workbench`` never starts an empty home by
accident in the current folder.
"""

from __future__ import annotations

import os
import re
import shlex
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.auth import AUTH_MODES, Role, RoleMap, check_name, os_user, parse_role_map
from core.errors import ConfigError, InputError
from core.schema import TIME_MODES

TRACKING_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2", "http", "https")
ARTIFACT_SCHEMES = ("file", "s3")
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2", "postgresql+psycopg")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
APP_NAME = "fraud-workbench"
OLD_HOME = ".workbench"
"""The folder name of the home before it moved to the user's data directory."""


def default_home() -> Path:
    """The user's data directory for the workbench (``platformdirs``), whatever the cwd."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _check_scheme(setting: str, url: str, valid: tuple[str, ...]) -> str:
    scheme = _scheme(url)
    if scheme not in valid:
        raise ConfigError(
            f"{setting}: unknown URL scheme {scheme or '(none)'!r} in {show_url(url)!r}; "
            f"valid schemes are: {', '.join(s + '://' for s in valid)}"
        )
    return url


def mask_url(url: str) -> str:
    """Return an HTTP(S) or ``s3://`` URL with any password replaced by ``***``.

    Database URLs go through :func:`show_url`, which lets SQLAlchemy parse them.
    """
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}{port}"))


def show_url(url: str) -> str:
    """Any backend URL, safe to show or log: passwords become ``***``.

    Database URLs (``sqlite``, ``postgresql...``) are rendered by SQLAlchemy's own parser
    (``URL.render_as_string(hide_password=True)``), which reads them as the driver will;
    a password holding ``/`` fools a generic URL parser. Others go through :func:`mask_url`.
    """
    if _scheme(url).split("+")[0] in ("sqlite", "postgresql"):
        try:
            return make_url(url).render_as_string(hide_password=True)
        except (ArgumentError, ValueError):
            return f"{_scheme(url)}://(unparseable URL hidden)"
    return mask_url(url)


class Settings(BaseSettings):
    """Every setting of the workbench, declared once with a working default."""

    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", extra="forbid")

    home: Path = Field(
        default_factory=default_home,
        description="Where embedded defaults live; default: the user's data directory.",
    )
    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; default: SQLite file under home.",
    )
    artifact_root: str | None = Field(
        default=None,
        description="Where MLflow stores artifacts: a folder (file://) or s3://bucket/prefix.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint for non-AWS object stores (SeaweedFS, MinIO)."
    )
    mlflow_ui_url: str | None = Field(
        default=None,
        description="The MLflow UI's address for links (http(s)), where people reach it at "
        "another address than the tracking URI's, or tracking is not a server; default: "
        "the tracking URI's, when it is an MLflow server.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the app database; default: SQLite file under home.",
    )
    database_busy_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a write waits for another writer's lock on SQLite.",
    )
    audit_stale_after: float = Field(
        default=900.0,
        gt=0,
        description="Seconds after which an audit event still in progress is interrupted.",
    )
    batch_max_age: float = Field(
        default=24.0,
        gt=0,
        description="Hours a batch page's result files (under home/batches) are kept; "
        "older ones are removed when any batch run starts.",
    )
    experiment_name: str = "fraud-workbench"
    model_name: str = Field(default="fraud-detector", description="Registered model name.")
    live_alias: str = Field(default="champion", description="Alias the app scores against.")
    promote_auprc_tolerance: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="A promotion's AUPRC gate: the candidate may be this much below the "
        "version the alias points at now, on the same evaluation rows.",
    )
    drift_psi_warn: float = Field(
        default=0.1, gt=0, description="A feature's PSI from which drift warns."
    )
    drift_psi_alert: float = Field(
        default=0.25, gt=0, description="A feature's PSI from which it is flagged as drifted."
    )
    drift_min_rows: int = Field(
        default=1000, ge=1, description="Fewer current rows than this get no drift verdict."
    )
    demo_rows: int = Field(
        default=150_000, ge=1_000, description="Rows of synthetic data for the first-start demo."
    )
    time_feature: str = Field(
        default="drop",  # bench/README.md, "Time as a feature": no mode beat dropping it
        description="How newly trained models see Time: raw, drop or hour_of_day "
        "(core.models.features); a version keeps the mode it was trained with.",
    )
    api_reload_interval: float = Field(
        default=5.0,
        ge=0.1,
        le=3600,
        description="REST sidecar: seconds between looks at the live alias and its threshold.",
    )
    api_key_refresh: float = Field(
        default=5.0,
        ge=0.1,
        le=3600,
        description="REST sidecar: seconds between reloads of the API keys (a revoked key is "
        "refused within this).",
    )
    api_max_batch_rows: int = Field(
        default=1000, ge=1, description="REST sidecar: most transactions in one batch request."
    )
    api_max_body_bytes: int = Field(
        default=2_000_000,
        ge=1024,
        description="REST sidecar: largest request body; a larger one gets 413 before it is read.",
    )
    api_unknown_fields: str = Field(
        default="reject",
        description="REST sidecar, /v1/score: 'reject' (422) or 'ignore' fields that are not "
        "Time, V1..V28, Amount or transaction_id.",
    )
    api_audit_flush: float = Field(
        default=1.0,
        ge=0.05,
        le=60,
        description="REST sidecar: seconds between audit flushes (one event per flush, "
        "version and key).",
    )
    auth: str = Field(
        default="local",
        description="How the app knows who you are: local, oidc (st.login) or header (proxy).",
    )
    local_user: str = Field(
        default_factory=os_user, description="The user in local mode; default: the OS user."
    )
    roles: str = Field(
        default="",
        description="Role map, e.g. 'alice=ml_lead,bob=analyst,group:fraud-leads=ml_lead'.",
    )
    default_role: Role | None = Field(
        default=None,
        description="Role of anyone not mapped; default: ml_lead in local mode on loopback, "
        "analyst otherwise.",
    )
    oidc_user_claim: str = Field(
        default="email", description="ID-token claim naming the user (falls back to 'sub')."
    )
    oidc_groups_claim: str = Field(default="groups", description="ID-token claim of groups.")
    auth_user_header: str = Field(
        default="X-Forwarded-User", description="Header mode: the trusted user-name header."
    )
    auth_groups_header: str = Field(
        default="",
        description="Header mode: the trusted groups header (comma-separated); off ('') unless "
        "the proxy sets it on every request.",
    )

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, home: Path) -> Path:
        return home.expanduser().resolve()

    @field_validator("model_name", "live_alias", "experiment_name")
    @classmethod
    def _plain_name(cls, value: str, info) -> str:  # type: ignore[no-untyped-def]
        # These names go into MLflow search filters and URLs: keep them plain.
        if not _NAME.fullmatch(value):
            raise ConfigError(
                f"WORKBENCH_{info.field_name.upper()}={value!r}: use letters, digits, '.', '_' "
                "or '-' (1-100 characters, starting with a letter or digit)"
            )
        return value

    @field_validator("auth")
    @classmethod
    def _known_auth_mode(cls, value: str) -> str:
        mode = value.strip().lower()
        if mode not in AUTH_MODES:
            raise ConfigError(
                f"WORKBENCH_AUTH={value!r}: unknown mode; valid modes are: {', '.join(AUTH_MODES)}"
            )
        return mode

    @field_validator("time_feature")
    @classmethod
    def _known_time_mode(cls, value: str) -> str:
        mode = value.strip().lower()
        if mode not in TIME_MODES:
            raise ConfigError(
                f"WORKBENCH_TIME_FEATURE={value!r}: unknown mode; valid modes are: "
                f"{', '.join(TIME_MODES)}"
            )
        return mode

    @field_validator("api_unknown_fields")
    @classmethod
    def _known_unknown_fields_rule(cls, value: str) -> str:
        rule = value.strip().lower()
        if rule not in ("reject", "ignore"):
            raise ConfigError(f"WORKBENCH_API_UNKNOWN_FIELDS={value!r}: use 'reject' or 'ignore'")
        return rule

    @field_validator("local_user")
    @classmethod
    def _usable_local_user(cls, value: str) -> str:
        try:
            return check_name(value)
        except InputError as exc:
            raise ConfigError(f"WORKBENCH_LOCAL_USER: {exc}") from None

    @field_validator("roles")
    @classmethod
    def _parseable_roles(cls, value: str) -> str:
        parse_role_map(value)  # ConfigError now, not at the first sign-in
        return value

    @field_validator("default_role", mode="before")
    @classmethod
    def _known_role(cls, value: object) -> object:
        if isinstance(value, str):
            if not value.strip():
                return None
            if value.strip().lower() not in list(Role):
                raise ConfigError(f"WORKBENCH_DEFAULT_ROLE={value!r}: roles are: {', '.join(Role)}")
            return value.strip().lower()
        return value

    @property
    def role_map(self) -> RoleMap:
        return parse_role_map(self.roles)

    @model_validator(mode="after")
    def _fill_and_check_urls(self) -> Settings:
        if self.tracking_uri is None:
            self.tracking_uri = f"sqlite:///{self.home / 'mlflow.db'}"
        if self.artifact_root is None:
            self.artifact_root = (self.home / "artifacts").as_uri()
        elif "://" not in self.artifact_root:
            self.artifact_root = Path(self.artifact_root).expanduser().resolve().as_uri()
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.home / 'workbench.db'}"
        if self.drift_psi_warn > self.drift_psi_alert:
            raise ConfigError(
                f"WORKBENCH_DRIFT_PSI_WARN ({self.drift_psi_warn}) is above "
                f"WORKBENCH_DRIFT_PSI_ALERT ({self.drift_psi_alert}): warn must come first"
            )
        _check_scheme("WORKBENCH_TRACKING_URI", self.tracking_uri, TRACKING_SCHEMES)
        _check_scheme("WORKBENCH_ARTIFACT_ROOT", self.artifact_root, ARTIFACT_SCHEMES)
        _check_scheme("WORKBENCH_DATABASE_URL", self.database_url, DATABASE_SCHEMES)
        if self.mlflow_ui_url is not None:
            _check_scheme("WORKBENCH_MLFLOW_UI_URL", self.mlflow_ui_url, ("http", "https"))
        self.artifact_root = self.artifact_root.rstrip("/")
        return self

    def __repr_args__(self):  # type: ignore[no-untyped-def]
        # Never let a password reach a log line or a traceback through repr().
        for name, value in super().__repr_args__():
            yield name, show_url(value) if isinstance(value, str) else value

    @property
    def artifact_scheme(self) -> str:
        return _scheme(str(self.artifact_root))

    def masked(self) -> dict[str, str]:
        """The backend URLs with passwords masked, for display."""
        return {
            "MLflow tracking": show_url(str(self.tracking_uri)),
            "Artifact root": show_url(str(self.artifact_root)),
            "App database": show_url(str(self.database_url)),
        }

    def apply_to_environment(self) -> None:
        """Export what MLflow and boto3 read from the environment (the S3 endpoint).

        MLflow's S3 artifact repository only takes its endpoint from
        ``MLFLOW_S3_ENDPOINT_URL``, so the setting has to travel that way.
        """
        if self.s3_endpoint_url:
            os.environ["MLFLOW_S3_ENDPOINT_URL"] = self.s3_endpoint_url


def find_old_home(settings: Settings, cwd: Path | None = None) -> Path | None:
    """An old ``./.workbench`` home in ``cwd`` (default: the current folder) not in use.

    Before the home moved to the user's data directory, each folder a command ran from got
    its own ``.workbench``. Returns that folder when it exists and is not ``settings.home``,
    so callers can say how to keep using it; None otherwise.
    """
    candidate = (cwd or Path.cwd()) / OLD_HOME
    try:
        if not candidate.is_dir():
            return None
        if settings.home.exists() and candidate.samefile(settings.home):
            return None
        return candidate.resolve()
    except OSError:  # an unreadable folder is no reason to fail a command
        return None


def old_home_message(old: Path, settings: Settings) -> str:
    """One line: where the old home is, which home is in use, and how to use the old one."""
    return (
        f"an old workbench home exists at {old} but the home in use is {settings.home}; "
        f"to keep using the old one: export WORKBENCH_HOME={shlex.quote(str(old))}"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment once.

    Raises:
        ConfigError: a URL has an unknown scheme.
    """
    try:
        return Settings()
    except ConfigError:
        raise
    except ValueError as exc:  # pydantic wraps validator errors
        cause = exc.__cause__ or exc
        raise ConfigError(str(cause)) from exc
