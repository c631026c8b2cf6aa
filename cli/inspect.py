"""``workbench status`` and ``workbench versions``: readable tables for people, ``--json``
for machines.

The tables (rich, on stdout) round every number to the digits it can carry and say which
data each version's metrics came from (``core.provenance``); ``--json`` prints one JSON
document with stable keys, full precision, and null where a value is unknown or not a
finite number.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from cli.common import failures, fraction_text, load_settings, metric_text, start_up
from core.errors import NotFoundError
from core.schema import UNKNOWN, count_text, rate_text

if TYPE_CHECKING:
    from core.provenance import DataProvenance
    from core.registry import ModelVersionInfo

SYNTHETIC_NOTE = (
    "synthetic: trained and tested on generated demo data; its AUPRC is not comparable "
    "with that of a version tested on a real sample"
)
# (key, label, decimals) of the metrics the tables show, raw and weighted
TABLE_METRICS: tuple[tuple[str, str, int | None], ...] = (
    ("auprc", "AUPRC", 4),
    ("roc_auc", "ROC-AUC", 4),
    ("precision", "precision", 3),
    ("recall", "recall", 3),
    ("f1", "F1", 3),
    ("brier", "Brier", None),  # significant digits: core.schema.format_brier
    ("alerts_per_10k", "alerts / 10k", 1),
)


def _console(width: int | None = None) -> Console:
    """stdout, wide enough for the tables when it is a pipe or a file (rich assumes 80); no
    markup, so a data file named ``[x].csv`` prints as itself."""
    if width is None and not sys.stdout.isatty():
        width = 200
    return Console(width=width, markup=False, emoji=False, highlight=False)


def _print_table(console: Console, table: Table) -> None:
    """The table at its natural width even on a narrow terminal (which then wraps the
    lines): rich would otherwise cut numbers to ``20,…``."""
    needed = console.measure(table, options=console.options.update_width(1_000)).maximum
    (_console(needed) if needed > console.width else console).print(table)


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities become null (``json.dumps`` would write invalid JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _json(payload: object) -> str:
    return json.dumps(_finite(payload), allow_nan=False)


def _date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _data_text(p: DataProvenance) -> str:
    name = UNKNOWN if p.dataset is None else p.dataset
    return name + (" (synthetic)" if p.synthetic else "")


def _weighted_text(info: ModelVersionInfo, key: str, digits: int | None) -> str:
    """The weighted figure; ``= raw`` at sampling fraction 1 (nothing to weigh)."""
    if info.sampling_fraction == 1.0:
        return "= raw"
    return metric_text(info.metrics.get(f"weighted_{key}"), digits)


def version_json(info: ModelVersionInfo, provenance: DataProvenance) -> dict[str, Any]:
    """One version for ``--json`` (stable keys; ``provenance`` from ``core.provenance``)."""
    return {
        "version": info.version,
        "aliases": list(info.aliases),
        "model_kind": info.model_kind,
        "threshold": info.threshold,
        "metrics": info.metrics,
        "sampling_fraction": info.sampling_fraction,
        "run_id": info.run_id,
        "created_at": info.created_at.isoformat(),
        "provenance": provenance.as_json(),
        "time_feature": info.tags.get("time_feature", "raw"),  # untagged: trained before
        "probability_scale": info.probability_scale,
    }


def _table(title: str, columns: tuple[tuple[str, str], ...]) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for name, justify in columns:
        # only the data's name may wrap: a number cut short would be a wrong number
        table.add_column(
            name,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=name != "data",
            min_width=12 if name == "data" else None,
        )
    return table


def versions_tables(
    found: list[ModelVersionInfo], provenances: list[DataProvenance]
) -> tuple[Table, Table]:
    """Two tables that each fit a terminal: the versions with the data behind their metrics
    (name, rows, fraud rate, test split's rows and frauds, sampling fraction), then their
    test metrics raw beside weighted to the natural prevalence."""
    data = _table(
        "Registered versions and the data behind their metrics",
        (
            ("version", "right"),
            ("aliases", "left"),
            ("threshold", "right"),
            ("trained (UTC)", "left"),
            ("data", "left"),
            ("rows", "right"),
            ("fraud", "right"),
            ("test rows/frauds", "right"),
            ("F", "right"),
        ),
    )
    metrics = _table(
        "Test-split metrics (weighted: at the natural prevalence)",
        (
            ("version", "right"),
            ("kind", "left"),
            ("AUPRC", "right"),
            ("weighted", "right"),
            ("precision", "right"),
            ("weighted", "right"),
            ("recall", "right"),
            ("ROC-AUC", "right"),
            ("Brier", "right"),
        ),
    )
    for v, p in zip(found, provenances, strict=True):
        data.add_row(
            str(v.version),
            ", ".join(f"@{a}" for a in v.aliases),
            v.threshold_text,
            f"{v.created_at.astimezone(UTC):%Y-%m-%d %H:%M}",  # two versions a day apart
            _data_text(p),
            count_text(p.rows),
            rate_text(p.fraud_rate),
            f"{count_text(p.test_rows)} / {count_text(p.test_frauds)}",
            fraction_text(v.sampling_fraction),
        )
        metrics.add_row(
            str(v.version),
            v.model_kind,
            metric_text(v.metrics.get("auprc")),
            _weighted_text(v, "auprc", 4),
            metric_text(v.metrics.get("precision"), 3),
            _weighted_text(v, "precision", 3),
            metric_text(v.metrics.get("recall"), 3),
            metric_text(v.metrics.get("roc_auc")),
            metric_text(v.metrics.get("brier"), None),
        )
    return data, metrics


def _notes(provenances: list[DataProvenance]) -> list[str]:
    notes = [
        "F: sampling fraction of legitimate rows; weighted: at the natural prevalence "
        "(each legitimate row counted 1/F times; = raw at F = 1)"
    ]
    if any(p.synthetic for p in provenances):
        notes.append(SYNTHETIC_NOTE)
    if any(p.test_frauds is None or p.rows is None for p in provenances):
        notes.append(
            f"{UNKNOWN}: not recorded (trained before the workbench stored it, or elsewhere)"
        )
    return notes


def versions(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the registered model's versions: data, threshold, date and test metrics."""
    with start_up():
        from core.provenance import get_provenance
        from core.registry import list_versions

    settings = load_settings()
    with failures():
        found = list_versions(settings)
    provenances = [get_provenance(v, settings=settings) for v in found]
    if as_json:
        typer.echo(_json([version_json(v, p) for v, p in zip(found, provenances, strict=True)]))
        return
    console = _console()
    if not found:
        console.print(f"{settings.model_name} has no versions yet (run: workbench train)")
        return
    for table in versions_tables(found, provenances):
        _print_table(console, table)
    for note in _notes(provenances):
        console.print(note, style="dim")


def backends_table(checks: list[Any]) -> Table:
    table = Table(title="Backends", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("status", "backend", "URL", "problem"):
        table.add_column(name, overflow="fold")
    for c in checks:
        table.add_row("ok" if c.ok else "FAIL", c.name, c.url, "" if c.ok else c.message)
    return table


def live_table(info: ModelVersionInfo) -> Table:
    """The live version's test metrics, raw beside weighted."""
    table = Table(title="Test-split metrics", title_justify="left", box=box.SIMPLE_HEAD)
    for name, justify in (("metric", "left"), ("raw", "right"), ("weighted", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for key, label, digits in TABLE_METRICS:
        table.add_row(
            label, metric_text(info.metrics.get(key), digits), _weighted_text(info, key, digits)
        )
    return table


def _live_lines(info: ModelVersionInfo, alias: str, provenance: DataProvenance) -> list[str]:
    p = provenance
    natural = ""
    if p.sampling_fraction is not None and p.sampling_fraction < 1:
        natural = f", about {rate_text(p.natural_fraud_rate)} at the natural prevalence"
    lines = [
        f"live model: {info.name}@{alias} -> version {info.version} ({info.model_kind}), "
        f"trained {_date(info.created_at)}, threshold {info.threshold_text}",
        f"data: {_data_text(p)}, {count_text(p.rows, 'row')}, {count_text(p.frauds, 'fraud')} "
        f"({rate_text(p.fraud_rate)} fraud{natural}); sampling fraction "
        f"{fraction_text(p.sampling_fraction)}",
        f"test split: {count_text(p.test_rows, 'row')}, {count_text(p.test_frauds, 'fraud')}",
        f"model steps: Time {info.tags.get('time_feature', 'raw')}; probabilities "
        f"{info.probability_scale_text}",
    ]
    if p.synthetic:
        lines.append(SYNTHETIC_NOTE)
    return lines


def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Show the backends in use (passwords masked), whether each answers, and the live model."""
    with start_up():
        from core.provenance import get_provenance
        from core.registry import get_version_by_alias
        from core.status import check_backends

    settings = load_settings()
    checks = check_backends(settings)
    info = None
    tracking_ok = next(c.ok for c in checks if c.name == "MLflow tracking")
    with failures():
        if tracking_ok:  # the live model is the registry's answer, whatever else is down
            try:
                info = get_version_by_alias(settings)
            except NotFoundError:
                info = None
    provenance = get_provenance(info, settings=settings) if info is not None else None
    if as_json:
        live = None
        if info is not None and provenance is not None:
            live = {
                "name": info.name,
                "alias": settings.live_alias,
                **version_json(info, provenance),
            }
        typer.echo(_json({"backends": [asdict(c) for c in checks], "live_model": live}))
    else:
        console = _console()
        _print_table(console, backends_table(checks))
        if info is not None and provenance is not None:
            for line in _live_lines(info, settings.live_alias, provenance):
                console.print(line)
            _print_table(console, live_table(info))
        elif tracking_ok:
            console.print(f"live model: none in {settings.home} (run: workbench bootstrap)")
        else:
            console.print("live model: unknown (the MLflow tracking store is not reachable)")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``status`` and ``versions`` to the ``workbench`` app."""
    for command in (status, versions):
        app.command()(command)
