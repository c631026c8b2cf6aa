"""``workbench drift``: a file's or a window of traffic's drift, for schedulers.

Exit 0 when no feature reaches the alert threshold (including "not judged": too few rows,
or nothing scored in the window), 4 when drift is found; failures keep their codes.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.common import (
    EXIT_DRIFT,
    failures,
    load_actor,
    load_settings,
    print_warning,
    progress_bar,
    start_up,
)
from core.errors import InputError, WorkbenchError
from core.schema import count_text

if TYPE_CHECKING:
    from core.auth import Actor
    from core.config import Settings
    from core.drift import ColumnDrift, DriftReport

NO_EVENTS = (
    "no scoring events with drift counts in the window {window} ({start:%Y-%m-%d %H:%M} to "
    "{end:%Y-%m-%d %H:%M} UTC): nothing to judge"
)


def drift(
    current: Annotated[
        Path | None,
        typer.Option("--current", help="Transactions CSV to compare with the reference."),
    ] = None,
    window: Annotated[
        str | None,
        typer.Option(
            "--window", help="Production traffic of the last 30m, 24h, 7d, 2w... (audit log)."
        ),
    ] = None,
    version: Annotated[int | None, typer.Option("--version", help="This version.")] = None,
    alias: Annotated[
        str | None, typer.Option("--alias", help="This alias's version (default: live).")
    ] = None,
    include_time: Annotated[
        bool,
        typer.Option(
            "--include-time", help="Judge Time too (it counts seconds, so it always drifts)."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Also write a self-contained HTML report here."),
    ] = None,
) -> None:
    """Drift against the version's reference; exit 4 when a feature reaches the alert PSI."""
    settings = load_settings()
    actor = load_actor(settings)
    with failures():
        if (current is None) == (window is None):
            raise InputError("give exactly one of --current CSV or --window (e.g. 7d)")
        if version is not None and alias is not None:
            raise InputError("give --version or --alias, not both")
        with start_up():
            from core.auth import Action, require
            from core.drift import drift_thresholds, parse_window
            from core.output import check_output

        require(actor, Action.RUN_DRIFT)
        span = parse_window(window) if window is not None else None
        if report is not None:
            check_output(report, source=current)  # before anything is computed
        thresholds = drift_thresholds(settings, include_time=include_time)
        if current is not None:
            reports = [_file_reports(settings, current, version, alias, thresholds)]
        else:
            reports = _window_reports(settings, span, version, alias, thresholds)  # type: ignore[arg-type]
    empty = None
    if not reports and span is not None:
        empty = NO_EVENTS.format(window=window, start=span[0], end=span[1])
    found = any(r.drift_found for r in reports)
    if as_json:
        if empty:
            print_warning(empty)
        typer.echo(json.dumps({"reports": [r.summary() for r in reports], "drift_found": found}))
    else:
        if empty:
            typer.echo(empty)
        for index, r in enumerate(reports):
            if index:
                typer.echo("")
            _print_report(r)
    for r in reports:
        for note in r.warnings:
            print_warning(f"version {r.version}: {note}" if len(reports) > 1 else note)
    if report is not None:
        _write_report(settings, actor, report, reports, empty)
    if found:
        raise typer.Exit(EXIT_DRIFT)


def _file_reports(settings, path, version, alias, thresholds) -> DriftReport:  # type: ignore[no-untyped-def]
    from core.drift import file_drift

    with progress_bar(enabled=sys.stderr.isatty()) as progress:
        return file_drift(
            settings,
            path,
            version=version,
            alias=alias,
            thresholds=thresholds,
            name=path.name,
            progress=progress,
        )


def _window_reports(settings, span, version, alias, thresholds) -> list[DriftReport]:  # type: ignore[no-untyped-def]
    from core.drift import resolve_version, window_drift

    start, end = span
    wanted = None
    if version is not None or alias is not None:
        wanted = resolve_version(settings, version=version, alias=alias).version
    return window_drift(settings, start=start, end=end, thresholds=thresholds, version=wanted)


def _cell(value: float | None, form: str) -> str:
    import math

    return "-" if value is None or not math.isfinite(value) else format(value, form)


def _row(c: ColumnDrift) -> str:
    return (
        f"  {c.name:<8} {c.band:<10} {_cell(c.psi, '.3f'):>7} {_cell(c.ks, '.3f'):>6} "
        f"{_cell(c.wasserstein, '.3f'):>8} {_cell(c.outside, '.2%'):>8}"
        + (f"  {c.note}" if c.note else "")
    )


def _print_report(r: DriftReport) -> None:
    from core.drift.html import verdict_sentence

    typer.echo(verdict_sentence(r))
    typer.echo(
        f"  {r.model_name} version {r.version}, {r.reference} reference; current: "
        f"{r.current} ({count_text(r.rows, 'row')})"
    )
    typer.echo(f"  {'feature':<8} {'band':<10} {'PSI':>7} {'KS':>6} {'W/SD':>8} {'outside':>8}")
    for c in r.columns:
        typer.echo(_row(c))
    if r.score is not None:
        typer.echo("score:\n" + _row(r.score))
    if r.queue is not None:
        typer.echo(f"queue: {r.queue.sentence()}")


def _write_report(
    settings: Settings,
    actor: Actor,
    out: Path,
    reports: list[DriftReport],
    empty: str | None,
) -> None:
    """Write the HTML report (complete or not at all), then store it with each version's
    run; a failure to store it is a warning: the file is written."""
    from core.artifacts import log_drift_report
    from core.drift.html import render_html
    from core.errors import OutputError
    from core.output import replace_when_done
    from core.registry import get_version

    moment = datetime.now(UTC)
    html = render_html(reports, generated_at=moment, empty_note=empty or "No drift report.")
    with failures(), replace_when_done(out) as partial:
        try:
            partial.write_text(html, encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot write {out}: {exc}") from exc
    typer.echo(f"report: {out}", err=True)
    name = f"drift-{moment:%Y%m%dT%H%M%SZ}.html"
    for version in dict.fromkeys(r.version for r in reports):
        try:
            run_id = get_version(settings, version, with_metrics=False).run_id
            where = log_drift_report(settings, run_id, html, name=name, actor=actor)
        except WorkbenchError as exc:
            print_warning(f"{out} is written, but not stored with version {version}'s run: {exc}")
        else:
            typer.echo(f"  stored with version {version}'s run {run_id} as {where}", err=True)
