"""What every ``workbench`` command shares: the exit codes, one error line per failure,
the process settings, progress bars and the start-up of heavy imports."""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

# Typer 0.2x ships its own copy of Click (typer._click): its usage errors are these
# classes, not the ones of a separately installed click package.
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from core.auth import Actor
from core.config import Settings, find_old_home, get_settings, old_home_message
from core.errors import ConfigError, InputError, NotFoundError, RefusedError, WorkbenchError
from core.identity import cli_actor
from core.schema import format_brier

# soft_wrap: messages stay one line each (grep-able, and paths are never split mid-word)
err = Console(stderr=True, soft_wrap=True)

# One clear line per outcome on stderr: MLflow's INFO chatter ("Creating initial MLflow
# database tables...") and urllib3's retry warnings would bury it. The environment
# variable covers an MLflow imported later; the logger levels cover one imported already.
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
logging.getLogger("mlflow").setLevel(os.environ["MLFLOW_LOGGING_LEVEL"].upper())
logging.getLogger("urllib3").setLevel(logging.ERROR)

# One exit-code table for every command (README, "Exit codes"); later commands extend it,
# never redefine it. Usage errors (an unknown option, a value of the wrong type) are Click's
# and exit 2 too.
EXIT_OK, EXIT_BACKEND, EXIT_INPUT, EXIT_REFUSED, EXIT_DRIFT = 0, 1, 2, 3, 4


def exit_code(exc: WorkbenchError) -> int:
    """The exit code of a failure, from its class."""
    if isinstance(exc, RefusedError):
        return EXIT_REFUSED
    if isinstance(exc, InputError | ConfigError | NotFoundError):
        return EXIT_INPUT
    return EXIT_BACKEND


def print_error(message: str) -> None:
    """One ``error:`` line on stderr (the message is printed as is, never as markup)."""
    err.print("[red]error:[/red] ", end="", highlight=False)
    err.print(message, highlight=False, markup=False)


def print_warning(message: str) -> None:
    """One ``warning:`` line on stderr."""
    err.print("[yellow]warning:[/yellow] ", end="", highlight=False)
    err.print(message, highlight=False, markup=False)


class PlainErrorsGroup(TyperGroup):
    """The ``workbench`` group: a usage error is one plain ``error:`` line, exit 2.

    Typer prints Click's usage errors in a rich box (``typer.core._main`` calls
    ``rich_utils.rich_format_error`` whenever rich is installed and the app has a
    ``rich_markup_mode``); without that mode Click's own output is still three lines
    (usage, hint, error). Neither fits the rule that a failure is one ``error:`` line.
    So the group runs in Click's non-standalone mode, which hands every error to its
    caller, and prints it here; help keeps Typer's rich formatting. Used through
    ``typer.Typer(cls=...)``, Typer's documented way to give an app its own group class.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError:  # the help was printed already (bare ``workbench``)
            sys.exit(EXIT_INPUT)
        except ClickException as exc:
            _usage_error(exc)
        except typer.Abort:
            print_error("aborted")
            sys.exit(EXIT_BACKEND)
        # non-standalone, Click returns a typer.Exit's code, or the command's return value
        sys.exit(code if isinstance(code, int) else EXIT_OK)


def _usage_error(exc: ClickException) -> NoReturn:
    message = exc.format_message().strip()
    ctx = exc.ctx if isinstance(exc, UsageError) else None
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        stop = "" if message.endswith((".", "?", "!")) else "."
        message = f"{message}{stop} Try '{ctx.command_path} {ctx.help_option_names[0]}' for help."
    if "--actor" in message and ctx is not None and ctx.parent is not None:
        message += " (--actor goes before the command: workbench --actor NAME COMMAND ...)"
    print_error(message)
    sys.exit(exc.exit_code)


def load_settings() -> Settings:
    """The process settings; warns (once per command) about an old ./.workbench left unused."""
    try:
        settings = get_settings()
    except WorkbenchError as exc:
        print_error(str(exc))
        raise typer.Exit(exit_code(exc)) from exc
    old = find_old_home(settings)
    if old is not None:
        print_warning(old_home_message(old, settings))
    return settings


_ACTOR_NAME: dict[str, str | None] = {"name": None}  # --actor, set by the app's callback


def set_actor_name(name: str | None) -> None:
    """Remember ``--actor`` (or ``WORKBENCH_ACTOR``) for this command."""
    _ACTOR_NAME["name"] = name


def load_actor(settings: Settings) -> Actor:
    """Who runs this command, with the role WORKBENCH_ROLES gives them."""
    try:
        return cli_actor(settings, _ACTOR_NAME["name"])
    except WorkbenchError as exc:
        print_error(str(exc))
        raise typer.Exit(exit_code(exc)) from exc


@contextmanager
def failures() -> Iterator[None]:
    """Turn a WorkbenchError into one readable line on stderr and an exit code."""
    try:
        yield
    except WorkbenchError as exc:
        print_error(str(exc))
        raise typer.Exit(exit_code(exc)) from exc


@contextmanager
def progress_bar(
    enabled: bool, *, plain: bool = False
) -> Iterator[Callable[[float, str], None] | None]:
    """A rich progress bar on stderr, or None (callers then skip progress work entirely).

    Args:
        enabled: draw the bar (stderr is a terminal).
        plain: when not ``enabled``, print one plain line per step on stderr instead
            (elapsed seconds, percent, step), for a long command whose output is piped or
            logged, where a bar is not drawn and silence would look like a hang.
    """
    if not enabled:
        yield _plain_progress() if plain else None
        return
    with Progress(
        TextColumn("{task.description:<48}"), BarColumn(), TimeElapsedColumn(), console=err
    ) as bar:
        task = bar.add_task("Starting", total=1.0)
        yield lambda fraction, message: bar.update(task, completed=fraction, description=message)


def metric_text(value: float | None, digits: int | None = 4) -> str:
    """A metric for display: ``digits`` decimals (None: a Brier score's significant digits,
    :func:`core.schema.format_brier`, as the pages show it), or ``n/a`` where none is stored."""
    if value is None:
        return "n/a"
    return format_brier(value) if digits is None else f"{value:.{digits}f}"


def fraction_text(fraction: float | None) -> str:
    """A sampling fraction for display (``1``, ``0.0173``), or ``n/a`` where none is stored."""
    return "n/a" if fraction is None else f"{fraction:.4g}"


def weighted_metrics_line(settings: Settings, version: int, fraction: float) -> str:
    """``workbench train``'s line of test metrics weighted to the natural prevalence, read
    back from the version's run; at fraction 1 they are the raw ones, which it says.

    A registry that stops answering after the version was registered costs the line, with
    a warning, not the command: the version exists."""
    if fraction == 1.0:
        return "  sampling fraction 1: weighted metrics = raw (the data keeps every row)"
    from core.registry import get_version

    try:
        m = get_version(settings, version).metrics
    except WorkbenchError as exc:
        print_warning(f"weighted metrics not shown: {exc}")
        return f"  sampling fraction {fraction_text(fraction)}: weighted metrics not read"
    return (
        f"  weighted (sampling fraction {fraction_text(fraction)}): "
        f"AUPRC {metric_text(m.get('weighted_auprc'))}  "
        f"precision {metric_text(m.get('weighted_precision'), 3)}  "
        f"F1 {metric_text(m.get('weighted_f1'), 3)}  "
        f"Brier {metric_text(m.get('weighted_brier'), None)}  "
        f"alerts/10k {metric_text(m.get('weighted_alerts_per_10k'), 1)} "
        f"(raw {metric_text(m.get('alerts_per_10k'), 1)})"
    )


def _plain_progress() -> Callable[[float, str], None]:
    started = time.monotonic()
    last = {"message": ""}

    def report(fraction: float, message: str) -> None:
        if message == last["message"]:  # a step reporting more progress: still one line
            return
        last["message"] = message
        elapsed = time.monotonic() - started
        err.print(f"[{elapsed:4.0f} s] {fraction:4.0%} {message}", highlight=False, markup=False)

    return report


# What MLflow's registry prints (not logs) while registering a version; our commands say
# what they registered themselves.
_REGISTRY_PRINTS = re.compile(
    r"Successfully registered model '|Registered model .* already exists\. Creating a new "
    r"version|Created version '\d+' of model '"
)


@contextmanager
def quiet_mlflow_prints() -> Iterator[None]:
    """Drop the lines MLflow's registry prints on stderr while registering a version.

    "Successfully registered model ..." and "Created version '1' of model ..." are
    ``print``s (``mlflow.utils.logging_utils.eprint``) into the stream MLflow's loggers
    also write to; no logger level reaches them, and disabling that stream does not hold
    (MLflow re-enables it after logging a model) and would hide MLflow's warnings too. So
    for the block the stream drops those lines, each with its line end, and passes
    everything else through.
    """
    from mlflow.utils.logging_utils import MLFLOW_LOGGING_STREAM as stream

    write = stream.write
    dropped = {"line": False}

    def filtered(text: str) -> None:
        if _REGISTRY_PRINTS.match(text):
            dropped["line"] = True  # print() writes the line end next, on its own
            return
        if dropped["line"] and text == "\n":
            dropped["line"] = False
            return
        dropped["line"] = False
        write(text)

    setattr(stream, "write", filtered)  # noqa: B010 (an instance attribute, for the block)
    try:
        yield
    finally:
        del stream.write


@contextmanager
def start_up() -> Iterator[None]:
    """Heavy imports (and model loading) with the cyclic garbage collector paused, then frozen.

    Importing MLflow, LightGBM and scikit-learn creates about a million long-lived objects.
    The collector would scan them again and again while they are being created, and once
    more at exit, for nothing: none of them is garbage. Pausing it here and then moving
    them into the permanent generation (``gc.freeze``) takes 0.9 s off the start-up of
    ``workbench score`` (bench/README.md); later collections only look at objects made
    afterwards. Meant for a one-shot process: frozen objects are never collected.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
