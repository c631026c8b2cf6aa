"""Batch scoring speed: end to end through core and through `workbench score`, against the
raw model predict on the same rows, in the same run.

Usage: .venv/bin/python bench/score_throughput.py [--rows 284807] [--runs 5]
           [--database-url URL]

Makes (once, under bench/out/) a synthetic CSV of --rows rows and a home with a LightGBM
model trained on the 150,000-row demo data, empties the audit log (the SQLite file, or the
audit tables of --database-url: give it a scratch database), then per run:
- raw predict: the loaded model's native predict on the rows as a float64 array (parsing
  excluded), in this process;
- core: `core.scoring.score_file` (parse, validate, score, audit, write CSV) in a fresh
  worker process with the model already loaded, as in the app;
- CLI: `workbench score --data ... --out ... --json` as a subprocess, wall time including
  interpreter start-up, imports and model loading.
Prints medians, rows/s, peak RSS and the ratios to the raw predict.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
VENV_BIN = Path(sys.executable).parent


def _settings(home: Path, database_url: str | None):  # type: ignore[no-untyped-def]
    from core.config import Settings

    return Settings(home=home, database_url=database_url)


def _prepare(rows: int, database_url: str | None) -> tuple[Path, Path]:
    from core.auth import Actor, Role
    from core.bootstrap import ensure_demo_model
    from core.data import generate_transactions

    OUT.mkdir(exist_ok=True)
    data = OUT / f"transactions-{rows}.csv"
    if not data.exists():
        generate_transactions(rows, seed=11).to_csv(data, index=False)
    home = OUT / "home"
    ensure_demo_model(
        _settings(home, database_url), actor=Actor(name="bench", role=Role.ML_LEAD, mode="bench")
    )
    return data, home


def _reset_audit_log(home: Path, database_url: str | None) -> None:
    """Start every invocation from an empty audit log, so figures do not depend on how
    many runs came before (each run adds 284,807 prediction rows)."""
    if database_url is None:
        for path in home.glob("workbench.db*"):
            path.unlink()
        return
    from sqlalchemy import text

    from core.db import get_engine

    with get_engine(_settings(home, database_url)).begin() as connection:
        connection.execute(text("TRUNCATE predictions, scoring_events"))


def _worker(home: Path, data: Path, out: Path, database_url: str | None) -> None:
    from core.auth import Actor, Role
    from core.scoring import resolve_model, score_file

    settings = _settings(home, database_url)
    choice = resolve_model(settings)
    start = time.perf_counter()
    result = score_file(
        data,
        settings=settings,
        choice=choice,
        source_kind="cli",
        actor=Actor(name="bench", role=Role.ANALYST, mode="bench"),
        out=out,
    )
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": peak_mb,
                "rows": result.rows_scored,
                "audit": result.audit.stored,
            }
        )
    )


def _raw_predict(home: Path, data: Path, database_url: str | None) -> float:
    import pandas as pd

    from core.schema import FEATURES
    from core.scoring import resolve_model

    choice = resolve_model(_settings(home, database_url))
    features = pd.read_csv(data, usecols=list(FEATURES))[list(FEATURES)].to_numpy(np.float64)
    start = time.perf_counter()
    choice.model.predict_proba(features)
    return time.perf_counter() - start


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a subprocess, via GNU time where installed."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    prefix = [gnu_time, "-f", "%M"] if Path(gnu_time).exists() else []
    start = time.perf_counter()
    done = subprocess.run(prefix + command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:  # say why, rather than a CalledProcessError with no output
        sys.exit(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr.strip()}")
    peak_mb = float(done.stderr.strip().splitlines()[-1]) / 1024 if prefix else float("nan")
    return seconds, peak_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=284_807)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default=None, help="app database (default: SQLite)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.home, args.data, args.out, args.database_url)
        return

    data, home = _prepare(args.rows, args.database_url)
    _reset_audit_log(home, args.database_url)
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    if args.database_url:
        env["WORKBENCH_DATABASE_URL"] = args.database_url
    small = OUT / "transactions-100.csv"
    if not small.exists():
        from core.data import generate_transactions

        generate_transactions(100, seed=1).to_csv(small, index=False)

    raw, core, cli, startup, peaks_core, peaks_cli = [], [], [], [], [], []
    for run in range(args.runs):
        raw.append(_raw_predict(home, data, args.database_url))
        worker = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                "--home",
                str(home),
                "--data",
                str(data),
                "--out",
                str(OUT / "scored-core.csv"),
            ]
            + (["--database-url", args.database_url] if args.database_url else []),
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        measured = json.loads(worker.stdout.strip().splitlines()[-1])
        core.append(measured["seconds"])
        peaks_core.append(measured["peak_mb"])
        command = [
            str(VENV_BIN / "workbench"),
            "score",
            "--data",
            str(data),
            "--out",
            str(OUT / "scored-cli.csv"),
            "--json",
        ]
        seconds, peak = _timed(command, env)
        cli.append(seconds)
        peaks_cli.append(peak)
        small_command = [*command[:3], str(small), "--out", str(OUT / "scored-small.csv"), "--json"]
        startup.append(_timed(small_command, env)[0])
        print(
            f"run {run + 1}/{args.runs}: raw {raw[-1]:.2f} s, core {core[-1]:.2f} s, "
            f"CLI {cli[-1]:.2f} s, CLI on 100 rows {startup[-1]:.2f} s",
            flush=True,
        )

    med = statistics.median
    rows = args.rows
    fixed = med(startup)
    table = [
        ("raw predict (baseline)", med(raw), None),
        ("core `score_file` end to end", med(core), med(peaks_core)),
        ("`workbench score` (whole process)", med(cli), med(peaks_cli)),
        ("`workbench score` minus its fixed start-up", med(cli) - fixed, None),
    ]
    database = args.database_url or "SQLite (embedded)"
    python = platform.python_version()
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {python}")
    print(f"rows: {rows:,}; audit database: {database}; runs: {args.runs}\n")
    print("| path | median s | rows/s | peak RSS MB | / raw predict |")
    print("|---|---|---|---|---|")
    for name, seconds, peak in table:
        peak_text = "-" if peak is None else f"{peak:,.0f}"
        ratio = seconds / med(raw)
        print(f"| {name} | {seconds:.2f} | {rows / seconds:,.0f} | {peak_text} | {ratio:.2f} |")
    print(f"| `workbench score` on 100 rows (fixed start-up) | {fixed:.2f} | - | - | - |")


if __name__ == "__main__":
    main()
