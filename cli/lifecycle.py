"""``workbench promote | rollback | threshold | history``: the model lifecycle of ML leads.

Each command acts as the global ``--actor`` and calls core, which checks the role; a
refusal (role, gate, stale compare-and-set) is one ``error:`` line and exit code 3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import (
    EXIT_REFUSED,
    failures,
    load_actor,
    load_settings,
    print_error,
    print_warning,
    start_up,
)
from core.errors import GateFailed, InputError, OutputError, WorkbenchError
from core.schema import count_text

if TYPE_CHECKING:
    from core.gates import GateResult
    from core.history import HistoryRow
    from core.lifecycle import MoveResult


def _expected(text: str | None) -> int | object | None:
    """``--expected``: a version number, or ``none`` for an unset alias."""
    from core.lifecycle import UNSET

    if text is None:
        return UNSET
    if text.strip().lower() in ("none", "unset"):
        return None
    try:
        return int(text)
    except ValueError:
        raise InputError(
            f"--expected {text!r} is not a version number (or 'none' for an unset alias)"
        ) from None


def _print_gates(gates: tuple[GateResult, ...] | list[GateResult]) -> None:
    for gate in gates:
        typer.echo(f"  {gate}")
        if gate.warning:  # pass or fail, what the result does not say by itself
            typer.echo(f"    warning: {gate.warning}")


def _print_move(move: MoveResult) -> None:
    from core.registry import format_threshold  # here: the CLI starts without MLflow

    _print_gates(move.gates)
    before = "unset" if move.from_version is None else f"version {move.from_version}"
    threshold = "missing" if move.threshold is None else format_threshold(move.threshold)
    typer.echo(
        f"{move.model_name}@{move.alias}: {before} -> version {move.to_version} ({move.kind}, "
        f"threshold {threshold}; history row {move.event_id})"
    )


def _refused(exc: GateFailed) -> None:
    """A blocked move: every gate's result on stdout, then the one error line."""
    _print_gates(exc.results)  # type: ignore[arg-type]
    print_error(str(exc))
    raise typer.Exit(EXIT_REFUSED) from exc


def promote(
    version: Annotated[int, typer.Option("--version", help="The version to promote.")],
    alias: Annotated[str, typer.Option("--alias", help="The alias to move (e.g. champion).")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the history (required).")],
    expected: Annotated[
        str | None,
        typer.Option(
            "--expected",
            help="The version you saw the alias at ('none' if unset): refused (exit 3) if "
            "it moved meanwhile.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Move even if gates fail (recorded as override).")
    ] = False,
    evaluation: Annotated[
        Path | None,
        typer.Option(
            "--evaluation",
            help="A labelled CSV to compute both AUPRCs on (default: the current version's "
            "test split, else the candidate's).",
        ),
    ] = None,
    sampling_fraction: Annotated[
        float | None,
        typer.Option(
            "--sampling-fraction",
            help="The share of legitimate rows the --evaluation file keeps (default 1); the "
            "AUPRCs are weighted to the natural prevalence with it.",
        ),
    ] = None,
) -> None:
    """Move an alias to a version after the gates pass (AUPRC, loads, signature, threshold)."""
    with start_up():
        from core.compare import load_evaluation
        from core.lifecycle import promote as promote_version

    settings = load_settings()
    actor = load_actor(settings)
    with failures():
        if evaluation is None and sampling_fraction is not None:
            raise InputError("--sampling-fraction describes an --evaluation file; give one")
        rows = (
            None
            if evaluation is None
            else load_evaluation(settings, path=evaluation, sampling_fraction=sampling_fraction)
        )
        try:
            move = promote_version(
                settings,
                version=version,
                alias=alias,
                reason=reason,
                actor=actor,
                expected=_expected(expected),  # type: ignore[arg-type]
                force=force,
                evaluation=rows,
            )
        except GateFailed as exc:
            _refused(exc)
    _print_move(move)


def rollback(
    alias: Annotated[str, typer.Option("--alias", help="The alias to roll back.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the history (required).")],
) -> None:
    """Return an alias to the version before its last move (from the history)."""
    with start_up():
        from core.lifecycle import rollback as rollback_alias

    settings = load_settings()
    actor = load_actor(settings)
    with failures():
        try:
            move = rollback_alias(settings, alias=alias, reason=reason, actor=actor)
        except GateFailed as exc:
            _refused(exc)
    _print_move(move)


def threshold(
    version: Annotated[int, typer.Option("--version", help="The version whose threshold changes.")],
    value: Annotated[float, typer.Option("--value", help="New threshold, between 0 and 1.")],
    reason: Annotated[str, typer.Option("--reason", help="Why, for the history (required).")],
) -> None:
    """Change a version's decision threshold; scoring uses it from the next call."""
    with start_up():
        from core.lifecycle import set_threshold
        from core.registry import format_threshold

    settings = load_settings()
    actor = load_actor(settings)
    with failures():
        change = set_threshold(settings, version=version, value=value, reason=reason, actor=actor)
    old = "missing" if change.old_threshold is None else format_threshold(change.old_threshold)
    typer.echo(
        f"{change.model_name} version {change.version}: threshold {old} -> "
        f"{format_threshold(change.threshold)} (history row {change.event_id})"
    )


def history(
    alias: Annotated[str | None, typer.Option("--alias", help="Only this alias's moves.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many rows.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write the rows to this CSV file.")
    ] = None,
) -> None:
    """Alias moves and threshold changes, newest first (moves made in MLflow included)."""
    with start_up():
        from core.history import history_csv, list_alias_history, sync_alias_history
        from core.output import check_output, replace_when_done

    settings = load_settings()
    with failures():
        if csv_file is not None:
            check_output(csv_file)
        try:  # moves made directly in MLflow, first; the history stands without them
            sync_alias_history(settings, alias=alias)
        except WorkbenchError as exc:
            print_warning(f"moves made outside the workbench were not checked: {exc}")
        rows = list_alias_history(settings, alias=alias, limit=limit)
        if csv_file is not None:
            with replace_when_done(csv_file) as partial:
                try:
                    partial.write_bytes(history_csv(rows))
                except OSError as exc:
                    raise OutputError(f"cannot write {csv_file}: {exc}") from exc
    if as_json:
        typer.echo(json.dumps([row.as_json() for row in rows]))
    else:
        for row in rows:
            typer.echo(_history_line(row))
        if not rows:
            typer.echo(f"no history for {settings.model_name}" + (f"@{alias}" if alias else ""))
    if csv_file is not None:
        typer.echo(f"{count_text(len(rows), 'row')} written to {csv_file}", err=True)


def _version(version: int | None) -> str:
    return "unset" if version is None else f"v{version}"


def _history_line(row: HistoryRow) -> str:
    """One row for people: when, who, what moved where, why."""
    from core.registry import format_threshold  # here: the CLI starts without MLflow

    if row.kind == "threshold":
        old = "missing" if row.old_threshold is None else format_threshold(row.old_threshold)
        what = f"threshold of v{row.to_version}: {old} -> {format_threshold(row.threshold)}"
    else:
        what = f"@{row.alias}: {_version(row.from_version)} -> {_version(row.to_version)}"
    failed = [g.name for g in row.gates if not g.passed]
    gates = f" [failed gates: {', '.join(failed)}]" if failed else ""
    status = "" if row.status == "confirmed" else f" ({row.status})"
    return (
        f"{row.time:%Y-%m-%d %H:%M:%S} {row.kind:<9} {what}{status} by {row.actor}"
        f"{f' ({row.role})' if row.role else ''}{gates}: {row.reason}"
    )


def register(app: typer.Typer) -> None:
    """Add the lifecycle commands to the ``workbench`` app."""
    for command in (promote, rollback, threshold, history):
        app.command()(command)
