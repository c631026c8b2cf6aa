"""``workbench api-key``: the REST sidecar's API keys (ML leads only)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import err, failures, load_actor, load_settings

if TYPE_CHECKING:
    from core.apikeys import ApiKeyInfo

api_key_app = typer.Typer(
    help="API keys for the REST sidecar (ML leads only).", no_args_is_help=True
)

REFRESH_NOTE = (
    "a running REST sidecar refuses it within WORKBENCH_API_KEY_REFRESH seconds (default 5)"
)


@api_key_app.command("create")
def api_key_create(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="What the key is for, e.g. 'fraud-queue'.")
    ],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="score or admin (admin implies score); repeatable."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object, the key included.")
    ] = False,
) -> None:
    """Make a new API key and print it once: only its hash is stored.

    The key alone goes to stdout; what it is and how to send it, to stderr.
    """
    from core.apikeys import create_api_key

    settings = load_settings()
    actor = load_actor(settings)
    with failures():
        made = create_api_key(settings, name=name, scopes=scope or ("score",), actor=actor)
    info = made.info
    if as_json:
        record = {
            "key": made.key,
            "key_id": info.key_id,
            "name": info.name,
            "scopes": list(info.scopes),
        }
        typer.echo(json.dumps(record))
        return
    _note(f"created API key {info.name!r} (id {info.key_id}, scopes {','.join(info.scopes)}):")
    typer.echo(made.key)
    _note(
        "This key is not shown again: store it now (only its hash is kept). Send it as "
        "'Authorization: Bearer <key>'."
    )


@api_key_app.command("list")
def api_key_list(
    active: Annotated[bool, typer.Option("--active", help="Leave revoked keys out.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """The API keys (name, key id, scopes, created, revoked); never a key or its hash."""
    from core.apikeys import list_api_keys

    settings = load_settings()
    actor = load_actor(settings)
    with failures():
        keys = list_api_keys(settings, actor=actor, include_revoked=not active)
    if as_json:
        typer.echo(json.dumps([k.as_json() for k in keys]))
        return
    if not keys:
        typer.echo(
            "no API keys" + (" active" if active else "") + " (make one: workbench "
            "api-key create NAME)"
        )
        return
    for line in _table(keys):
        typer.echo(line.rstrip())


@api_key_app.command("revoke")
def api_key_revoke(
    name_or_id: Annotated[
        str, typer.Argument(metavar="NAME_OR_ID", help="The key's name or key id (see list).")
    ],
) -> None:
    """Revoke an active API key by name or key id."""
    from core.apikeys import revoke_api_key

    settings = load_settings()
    actor = load_actor(settings)
    with failures():
        info = revoke_api_key(settings, name_or_id=name_or_id, actor=actor)
    typer.echo(f"revoked API key {info.name!r} (id {info.key_id}); {REFRESH_NOTE}")


def _note(message: str) -> None:
    err.print(message, highlight=False, markup=False)


def _time(value: datetime | None) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"


def _table(keys: list[ApiKeyInfo]) -> list[str]:
    """Aligned rows: name, key id, scopes, created, by, revoked (when and by whom)."""
    header = ("NAME", "KEY ID", "SCOPES", "CREATED", "BY", "REVOKED")
    rows = [header] + [
        (
            k.name,
            k.key_id,
            ",".join(k.scopes),
            _time(k.created_at),
            k.created_by,
            "-" if k.revoked_at is None else f"{_time(k.revoked_at)} by {k.revoked_by}",
        )
        for k in keys
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
