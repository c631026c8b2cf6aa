"""``workbench audit``: the audit spool, what waits in it, and writing it back."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import EXIT_INPUT, err, failures, load_actor, load_settings, print_error
from core.schema import count_text

if TYPE_CHECKING:
    from core.audit import Adoption, SpooledRecord, SpoolStatus

audit_app = typer.Typer(help="The prediction audit log.", no_args_is_help=True)


@audit_app.command("replay")
def audit_replay() -> None:
    """Write spooled audit records to the app database (exit 1 while it is unreachable)."""
    from core.audit import replay_spool, spool_status

    settings = load_settings()
    with failures():
        written = replay_spool(settings, actor=load_actor(settings))
    _print_replay(written, spool_status(settings))


@audit_app.command("retry-failed")
def audit_retry_failed() -> None:
    """Try the set-aside audit records again (those the database refused for content)."""
    from core.audit import retry_failed, spool_status

    settings = load_settings()
    with failures():
        written = retry_failed(settings, actor=load_actor(settings))
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
        f"app database {status.database} ({reach}): "
        f"{count_text(len(status.waiting), 'record')} waiting, "
        f"{len(status.set_aside)} set aside, {len(status.other_database)} waiting for "
        "another database"
    )
    for record in status.set_aside:
        typer.echo(f"  set aside {record.file} ({count_text(record.rows, 'row')}): {record.reason}")
    for record in status.other_database:
        typer.echo(f"  for {record.database}: {record.file} ({count_text(record.rows, 'row')})")
    for how in sorted({adopt_option(record) for record in status.other_database}):
        typer.echo(f"  to write those into this database instead: workbench audit adopt {how}")


def adopt_option(record: SpooledRecord) -> str:
    """The ``workbench audit adopt`` option that names this record."""
    return "--untagged" if record.untagged else f"--from-database {record.database_key}"


@audit_app.command("adopt")
def audit_adopt(
    untagged: Annotated[
        bool,
        typer.Option("--untagged", help="Records spooled before records named their database."),
    ] = False,
    from_database: Annotated[
        str | None,
        typer.Option(
            "--from-database",
            metavar="ID",
            help="Records meant for this database: its id, or the address `audit status` "
            "shows for records that carry none.",
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Write them (without it, only list them).")
    ] = False,
) -> None:
    """Write spooled records meant for another database, or for none, into this one.

    Lists them and writes nothing unless --yes.
    """
    from core.audit import adopt_spooled, list_adoptable

    if untagged and from_database is not None:
        print_error("name one kind of record to adopt: --untagged or --from-database ID, not both")
        raise typer.Exit(EXIT_INPUT)
    if not untagged and from_database is None:
        print_error(
            "name the records to adopt: --untagged, or --from-database ID "
            "(see workbench audit status)"
        )
        raise typer.Exit(EXIT_INPUT)
    settings = load_settings()
    with failures():
        if yes:
            done = adopt_spooled(
                settings, untagged=untagged, from_database=from_database, actor=load_actor(settings)
            )
        else:
            done = list_adoptable(settings, untagged=untagged, from_database=from_database)
    _print_adoption(done)


def _print_adoption(done: Adoption) -> None:
    if not done.records:
        typer.echo(
            "no spooled record matches; records waiting for this database are written by "
            "workbench audit replay (see workbench audit status)"
        )
        return
    if not done.adopted:
        for record in done.records:
            typer.echo(
                f"  {record.file} ({count_text(record.rows, 'row')}, {record.created_at}) "
                f"meant for {record.database}"
            )
        typer.echo(
            f"{count_text(len(done.records), 'record')} would be written into the app database "
            f"{done.database}; nothing was written: add --yes to write them"
        )
        return
    typer.echo(
        f"adopted {count_text(len(done.records), 'record')} into the app database "
        f"{done.database}: "
        f"{len(done.stored)} stored, {len(done.set_aside)} set aside, "
        f"{len(done.waiting)} waiting"
    )
    for record in done.set_aside:
        err.print(f"  set aside {record.file}: {record.reason}", highlight=False, markup=False)


def _print_replay(written: int, status: SpoolStatus) -> None:
    typer.echo(
        f"replayed {count_text(written, 'spooled event')}; {len(status.waiting)} waiting, "
        f"{len(status.set_aside)} set aside, {len(status.other_database)} for another database"
    )
    for record in status.set_aside:
        err.print(f"  set aside {record.file}: {record.reason}", highlight=False, markup=False)
