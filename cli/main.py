"""``workbench``: the command line for everything done outside the browser.

Typer (on Click) gives typed options, ``--help`` and shell completion for free; Rich,
which it brings along, draws the progress bars on stderr so ``--json`` output on stdout
stays machine-readable. What every command shares is in ``cli.common``; the ``audit``
sub-commands are in ``cli.audit``, ``drift`` in ``cli.drift``.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cli.apikeys import api_key_app
from cli.audit import audit_app
from cli.common import (
    EXIT_BACKEND,
    PlainErrorsGroup,
    failures,
    load_actor,
    load_settings,
    print_error,
    print_warning,
    progress_bar,
    quiet_mlflow_prints,
    set_actor_name,
    start_up,
    weighted_metrics_line,
)
from cli.drift import drift
from cli.inspect import register as register_inspect
from cli.lifecycle import register as register_lifecycle
from cli.serve import serve_api
from core.errors import InputError, OutputError
from core.schema import count_text, format_brier

app = typer.Typer(
    name="workbench",
    help="Fraud Workbench: train, register and inspect card-fraud models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=PlainErrorsGroup,  # usage errors: one plain line, not Typer's rich box
)

log = logging.getLogger("workbench")


@app.callback()
def _global_options(
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor",
            envvar="WORKBENCH_ACTOR",
            help="Who is acting, for the audit log and roles (default: WORKBENCH_LOCAL_USER, "
            "else the OS user). Accountability, not security.",
        ),
    ] = None,
) -> None:
    """Fraud Workbench: train, register and inspect card-fraud models."""
    set_actor_name(actor)


@app.command()
def train(
    data: Annotated[
        Path, typer.Option("--data", help="Labelled CSV (Time, V1..V28, Amount, Class).")
    ],
    model: Annotated[str, typer.Option("--model", help="lightgbm or logreg.")] = "lightgbm",
    sampling_fraction: Annotated[
        float,
        typer.Option(help="Share of legitimate rows the data keeps (0 < F <= 1; all frauds)."),
    ] = 1.0,
    synthetic: Annotated[
        bool,
        typer.Option(
            "--synthetic",
            help="The data is generated (workbench generate), not real: recorded with the "
            "version and shown as synthetic demo data.",
        ),
    ] = False,
    time_feature: Annotated[
        str | None,
        typer.Option(
            help="How the model sees Time: raw, drop or hour_of_day "
            "(default: WORKBENCH_TIME_FEATURE, drop).",
        ),
    ] = None,
    calibration: Annotated[
        str,
        typer.Option(
            help="auto (Platt unless isotonic wins out of fold), platt, isotonic or none "
            "(the raw scale).",
        ),
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Train a model on a time split, log it to MLflow and register a new version."""
    with start_up():
        from core.training import train_from_csv

    settings = load_settings()
    with failures(), progress_bar(enabled=sys.stderr.isatty()) as report, quiet_mlflow_prints():
        result = train_from_csv(
            data,
            settings=settings,
            model_kind=model,  # type: ignore[arg-type]
            progress=report,
            actor=load_actor(settings),
            sampling_fraction=sampling_fraction,
            synthetic=synthetic,
            time_feature=time_feature,
            calibration=calibration,
        )
    if as_json:
        typer.echo(json.dumps(result.as_json()))
        return
    from core.registry import format_threshold  # loaded by training already

    m = result.metrics
    typer.echo(
        f"{result.model_name} version {result.version} ({result.model_kind}), run {result.run_id}\n"
        f"  test AUPRC {m.auprc:.4f}  ROC-AUC {m.roc_auc:.4f}  Brier {format_brier(m.brier)}\n"
        f"  at threshold {format_threshold(m.threshold)}: precision {m.precision:.3f}"
        f"  recall {m.recall:.3f}"
        f"  F1 {m.f1:.3f}  precision@{m.k} {m.precision_at_k:.3f}\n"
        + weighted_metrics_line(settings, result.version, sampling_fraction)
        + (f"\n  alias {result.alias_set} -> version {result.version}" if result.alias_set else "")
    )


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="CSV file to write.")],
    rows: Annotated[int, typer.Option(help="Number of transactions.")] = 100_000,
    fraud_rate: Annotated[float, typer.Option(help="Share of frauds.")] = 0.00172,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    drift: Annotated[
        list[str] | None, typer.Option(help="FEATURE=SHIFT in standard deviations; repeatable.")
    ] = None,
    start_time: Annotated[float, typer.Option(help="Seconds added to every Time.")] = 0.0,
) -> None:
    """Write synthetic ULB-shaped transactions (for demos and tests)."""
    from core.data import generate_transactions
    from core.output import check_output, replace_when_done

    shifts: dict[str, float] = {}
    with failures():
        check_output(out)
        for item in drift or []:
            name, _, value = item.partition("=")
            try:
                shifts[name.strip()] = float(value)
            except ValueError as exc:
                raise InputError(
                    f"--drift {item!r}: expected FEATURE=NUMBER, e.g. V14=1.5"
                ) from exc
        frame = generate_transactions(
            rows, fraud_rate=fraud_rate, seed=seed, drift=shifts, start_time=start_time
        )
        with replace_when_done(out) as partial:
            try:
                frame.to_csv(partial, index=False)
            except OSError as exc:
                raise OutputError(f"cannot write {out}: {exc}") from exc
    typer.echo(
        f"wrote {count_text(len(frame), 'row')} "
        f"({count_text(int(frame['Class'].sum()), 'fraud')}) to {out}"
    )


@app.command()
def bootstrap(
    rows: Annotated[
        int | None, typer.Option(help="Rows of demo data (default: WORKBENCH_DEMO_ROWS).")
    ] = None,
    if_allowed: Annotated[
        bool,
        typer.Option(
            "--if-allowed",
            help="At start-up: when the actor may not train, say so and exit 0 instead of 3.",
        ),
    ] = False,
) -> None:
    """Train and alias a demo model if the live alias is unset (idempotent)."""
    with start_up():
        from core.auth import Action
        from core.bootstrap import ensure_demo_model

    settings = load_settings()
    actor = load_actor(settings)
    if if_allowed and not actor.can(Action.TRAIN):
        print_warning(
            f"{actor.name} (role {actor.role}) may not train, so no demo model is trained; "
            "an ML lead can train one from the app or the command line"
        )
        return
    # plain lines when not on a terminal: `make run` would otherwise be silent for minutes
    with (
        failures(),
        progress_bar(enabled=sys.stderr.isatty(), plain=True) as report,
        quiet_mlflow_prints(),
    ):
        result = ensure_demo_model(settings, rows=rows, progress=report, actor=actor)
    if result is None:
        typer.echo(f"live model {settings.model_name}@{settings.live_alias} already set")
    else:
        typer.echo(
            f"demo model {result.model_name} version {result.version} trained "
            f"(test AUPRC {result.metrics.auprc:.3f}) and aliased {settings.live_alias}"
        )


@app.command()
def whoami(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Who the command line acts as, with which role, and what that role may do."""
    from core.auth import PERMISSIONS

    settings = load_settings()
    actor = load_actor(settings)
    allowed = sorted(str(a) for a in PERMISSIONS[actor.role])
    if as_json:
        record = {"name": actor.name, "role": actor.role, "mode": settings.auth, "may": allowed}
        typer.echo(json.dumps(record))
        return
    typer.echo(f"{actor.name}, role {actor.role} (WORKBENCH_AUTH={settings.auth})")
    typer.echo("  may: " + "; ".join(allowed))


@app.command()
def score(
    data: Annotated[Path, typer.Option("--data", help="Transactions CSV to score.")],
    out: Annotated[Path, typer.Option("--out", help="Scored CSV to write.")],
    alias: Annotated[
        str | None, typer.Option(help="Score with this alias (default: live).")
    ] = None,
    version: Annotated[int | None, typer.Option(help="Score with this version.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Score a CSV; rejected rows go to OUT.rejected.csv; every score is audited."""
    settings = load_settings()
    actor = load_actor(settings)
    with failures(), progress_bar(enabled=sys.stderr.isatty()) as report:
        with start_up():
            from core.output import check_output, rejected_path
            from core.registry import format_threshold
            from core.scoring import resolve_model, score_file

            check_output(out, source=data)  # before the model is loaded or anything written

            choice = resolve_model(settings, alias=alias, version=version)
        result = score_file(
            data,
            settings=settings,
            choice=choice,
            source_kind="cli",
            actor=actor,
            input_name=data.name,
            out=out,
            progress=report,
            # read with the version a moment ago: one registry read, not a second for the tag
            threshold=choice.model.info.require_threshold(),
        )
    for note in result.warnings:  # e.g. rows scored despite a bad optional label
        print_warning(note)
    if result.audit.spooled:
        print_warning(result.audit.message)
    if as_json:
        typer.echo(json.dumps(result.summary()))
    else:
        typer.echo(
            f"{count_text(result.rows_in, 'row')}: {result.rows_scored:,} scored, "
            f"{result.rows_rejected:,} rejected, {count_text(result.alerts, 'alert')} "
            f"({result.model_label}, threshold "
            f"{format_threshold(result.threshold)}) in {result.seconds:.1f} s\n  scored: {out}"
            + (f"\n  rejected: {rejected_path(out)}" if result.rows_rejected else "")
        )
    if result.rows_scored == 0:
        print_error(f"no row could be scored; reasons are in {rejected_path(out)}")
        raise typer.Exit(2)


app.command()(drift)  # cli/drift.py
app.add_typer(audit_app, name="audit")
app.add_typer(api_key_app, name="api-key")
app.command("serve-api")(serve_api)
register_inspect(app)  # status, versions (cli/inspect.py)
register_lifecycle(app)  # promote, rollback, threshold, history (cli/lifecycle.py)


def run_guarded(command: Callable[[], object]) -> None:
    """Run ``command``; an unexpected exception becomes one line on stderr and exit 1.

    Every failure the workbench expects is a WorkbenchError with its own message and exit
    code. Anything else is a bug: the user gets one line saying where the details are
    (the traceback, in a log file), never a traceback on the terminal.
    """
    try:
        command()
    except Exception as exc:  # the last line of defence: nothing may escape as a traceback
        details = _write_crash_log(exc)
        summary = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print_error(f"unexpected failure ({summary}); details in {details}")
        sys.exit(EXIT_BACKEND)


def _write_crash_log(exc: Exception) -> str:
    """Write the traceback to a new file in the temporary folder; return its path."""
    text = "".join(traceback.format_exception(exc))
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="workbench-error-", suffix=".log", delete=False
        ) as handle:
            handle.write(" ".join(sys.argv) + "\n" + text)
        return handle.name
    except OSError:
        log.debug("cannot write the crash log", exc_info=True)
        return "(no log: the temporary folder is not writable)"


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    run_guarded(app)


if __name__ == "__main__":
    main()
