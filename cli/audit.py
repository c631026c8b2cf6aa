"""``workbench audit``: the audit spool, what waits in it, and writing it back."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import err, failures, load_settings

if TYPE_CHECKING:
    from core.audit import SpoolStatus

audit_app = typer.Typer(help="The prediction audit log.", no_args_is_help=True)


@audit_app.command("replay")
def audit_replay() -> None:
    """Write spooled audit records to the app database (exit 1 while it is unreachable)."""
    from core.audit import replay_spool, spool_status

    settings = load_settings()
    with failures():
        written = replay_spool(settings)
    _print_replay(written, spool_status(settings))


@audit_app.command("retry-failed")
def audit_retry_failed() -> None:
    """Try the set-aside audit records again (those the database refused for content)."""
    from core.audit import retry_failed, spool_status

    settings = load_settings()
    with failures():
        written = retry_failed(settings)
    _print_replay(written, spool_status(settings))


@audit_app.command("status")
def audit_status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """How many audit records wait in the spool, how many were set aside and why."""
    from core.audit import spool_status

    settings = load_settings()
    status = spool_status(settings)
    if as_json:
        typer.echo(json.dumps(status.as_json()))
        return
    reach = "reachable" if status.database_reachable else "unreachable"
    typer.echo(
        f"app database {status.database} ({reach}): {len(status.waiting)} record(s) waiting, "
        f"{len(status.set_aside)} set aside, {len(status.other_database)} waiting for "
        "another database"
    )
    for record in status.set_aside:
        typer.echo(f"  set aside {record.file} ({record.rows:,} rows): {record.reason}")
    for record in status.other_database:
        typer.echo(f"  for {record.database}: {record.file} ({record.rows:,} rows)")


def _print_replay(written: int, status: SpoolStatus) -> None:
    typer.echo(
        f"replayed {written} spooled event(s); {len(status.waiting)} waiting, "
        f"{len(status.set_aside)} set aside, {len(status.other_database)} for another database"
    )
    for record in status.set_aside:
        err.print(f"  set aside {record.file}: {record.reason}", highlight=False, markup=False)
