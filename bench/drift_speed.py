"""Drift speed: a file's drift and a window's drift through core, against Evidently's
DataDriftPreset on the same data, in the same run.

Usage: .venv/bin/python bench/drift_speed.py [--rows 284807] [--runs 5] [--evidently-runs 5]
           [--events 100] [--no-evidently]

Makes once, under bench/out/drift/: a reference CSV (synthetic, seed 41) and a current CSV
(seed 42, drift V14=1.5 SD and V4=1.0 SD), both --rows rows x 30 features + Class; a home
with a LightGBM version trained on the reference CSV (its stored drift sketch comes from
its training split); and a venv with Evidently and pandas < 3 (bench/out/evidently-venv,
made with `python3 -m venv` and uv). Then, each timed as the median of --runs runs:
- file, no scores: `core.drift.file_drift(..., with_scores=False)` from the current CSV
  on disk (reading the CSV in chunks, validation, counting; the stored sketch re-read from
  the artifact store every run);
- file, with scores: the same with `with_scores=True` (the model loaded and every row
  scored, for score drift and the queue impact);
- window: 100 scoring events (the current rows in 100 slices, counted on the sketch's
  bins) written through core's audit writer into a scratch SQLite database, then
  `core.drift.window_drift` over the last 8 days (sketch re-read every run);
- Evidently: `Report([DataDriftPreset()]).run(current, reference)` in a subprocess of the
  Evidently venv, timed inside it, with and without reading the two CSVs (Time and Class
  left out, as the workbench leaves Time out).
Prints one JSON document: the timings, the ratio, the load average, and which features each
flagged.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
DATA = OUT / "drift"
EVIDENTLY_VENV = OUT / "evidently-venv"
DRIFT = {"V14": 1.5, "V4": 1.0}
UV = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "uv"

EVIDENTLY_SCRIPT = textwrap.dedent(
    """
    import json, statistics, sys, time
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference_csv, current_csv, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    drop = ["Time", "Class"]
    with_read, without_read, drifted = [], [], None
    for _ in range(runs):
        start = time.perf_counter()
        reference = pd.read_csv(reference_csv).drop(columns=drop)
        current = pd.read_csv(current_csv).drop(columns=drop)
        read = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
        result = snapshot.dict()
        end = time.perf_counter()
        with_read.append(end - start)
        without_read.append(end - read)
        drifted, methods = [], set()
        for metric in result["metrics"]:
            config = metric["config"]
            if not config["type"].endswith("ValueDrift"):
                continue
            methods.add(config["method"])
            value, threshold = metric["value"], config["threshold"]
            # distances drift at or above the threshold, p-values below it
            p_value = "p_value" in config["method"] or "test" in config["method"]
            if (value < threshold) if p_value else (value >= threshold):
                drifted.append(config["column"])
    import evidently
    print(json.dumps({
        "evidently": evidently.__version__,
        "pandas": pd.__version__,
        "runs_with_read_s": with_read,
        "runs_without_read_s": without_read,
        "median_with_read_s": statistics.median(with_read),
        "median_without_read_s": statistics.median(without_read),
        "flagged": sorted(drifted),
        "methods": sorted(methods),
    }))
    """
)


def _actor():  # type: ignore[no-untyped-def]
    from core.auth import Actor, Role

    return Actor(name="bench", role=Role.ML_LEAD, mode="bench")


def _prepare(rows: int) -> tuple[Path, Path, Path, int, float]:
    from core.config import Settings
    from core.data import generate_transactions
    from core.training import train_from_csv

    DATA.mkdir(parents=True, exist_ok=True)
    reference = DATA / f"reference-{rows}.csv"
    current = DATA / f"current-{rows}.csv"
    if not reference.exists():
        generate_transactions(rows, seed=41).to_csv(reference, index=False)
    if not current.exists():
        generate_transactions(rows, seed=42, drift=DRIFT).to_csv(current, index=False)
    home = DATA / f"home-{rows}"
    marker = home / "bench-version.json"
    train_s = float("nan")
    if not marker.exists():
        start = time.perf_counter()
        result = train_from_csv(reference, settings=Settings(home=home), actor=_actor())
        train_s = time.perf_counter() - start
        marker.write_text(json.dumps({"version": result.version, "train_s": train_s}))
    stored = json.loads(marker.read_text())
    return reference, current, home, int(stored["version"]), float(stored["train_s"])


def _clear_sketch_cache() -> None:
    from core.drift import sketch

    sketch._cache.clear()  # the stored sketch is read again every run


def _time(runs: int, call) -> tuple[list[float], object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(runs):
        _clear_sketch_cache()
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return times, result


def _write_window(home: Path, version: int, current: Path, events: int) -> tuple[object, int]:
    """100 scoring events carrying the current rows' counts, through core's audit writer."""
    import numpy as np
    import pandas as pd

    from core.audit.records import ScoringEventRecord
    from core.audit.writer import write_event
    from core.config import Settings
    from core.db import get_engine
    from core.drift.counts import count_rows
    from core.drift.sketch import get_reference_sketch
    from core.registry import get_version
    from core.schema import FEATURES

    database = DATA / f"window-{events}.db"
    database.unlink(missing_ok=True)
    settings = Settings(home=home, database_url=f"sqlite:///{database}")
    info = get_version(settings, version, with_metrics=False)
    sketch = get_reference_sketch(settings, info)
    assert sketch is not None
    engine = get_engine(settings)
    features = pd.read_csv(current).loc[:, list(FEATURES)].to_numpy(dtype=np.float64)
    now = datetime.now(UTC)
    for i, rows in enumerate(np.array_split(features, events)):
        counts = count_rows(sketch, rows, None)
        write_event(
            engine,
            ScoringEventRecord(
                source="cli",
                actor="bench",
                model_name=info.name,
                model_version=version,
                alias=None,
                threshold=float(info.threshold or 0.5),
                rows_in=len(rows),
                rows_scored=len(rows),
                rows_rejected=0,
                alerts=0,
                drift_counts=counts.to_json(),
                created_at=now - timedelta(days=7) + timedelta(seconds=i * 6000),
            ),
            [],
        )
    return settings, len(features)


def _evidently(reference: Path, current: Path, runs: int) -> dict[str, object]:
    python = EVIDENTLY_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run(["python3", "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run(
            [str(UV), "pip", "install", "--python", str(python), "evidently", "pandas<3"],
            check=True,
        )
    script = OUT / "evidently_drift.py"
    script.write_text(EVIDENTLY_SCRIPT)
    done = subprocess.run(
        [str(python), str(script), str(reference), str(current), str(runs)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=284_807)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--evidently-runs", type=int, default=5)
    parser.add_argument("--no-evidently", action="store_true")
    args = parser.parse_args()

    from core.config import Settings
    from core.drift import file_drift, window_drift

    load_start = os.getloadavg()
    reference, current, home, version, train_s = _prepare(args.rows)
    settings = Settings(home=home)

    plain_times, plain = _time(
        args.runs, lambda: file_drift(settings, str(current), version=version, with_scores=False)
    )
    scored_times, scored = _time(
        args.runs, lambda: file_drift(settings, str(current), version=version, with_scores=True)
    )
    window_settings, window_rows = _write_window(home, version, current, args.events)
    now = datetime.now(UTC)
    window_times, windows = _time(
        args.runs,
        lambda: window_drift(window_settings, start=now - timedelta(days=8), end=now),
    )
    [window] = windows  # type: ignore[misc]
    evidently = None if args.no_evidently else _evidently(reference, current, args.evidently_runs)

    plain_median = statistics.median(plain_times)
    out: dict[str, object] = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}",
        "rows": args.rows,
        "drift": DRIFT,
        "runs": args.runs,
        "load_average_start": load_start,
        "training_s": train_s,
        "file_no_scores": {
            "median_s": plain_median,
            "runs_s": plain_times,
            "flagged": plain.flagged,  # type: ignore[attr-defined]
            "verdict": plain.verdict,  # type: ignore[attr-defined]
            "psi": {c.name: round(c.psi, 4) for c in plain.columns[:4]},  # type: ignore[attr-defined]
        },
        "file_with_scores": {
            "median_s": statistics.median(scored_times),
            "runs_s": scored_times,
            "flagged": scored.flagged,  # type: ignore[attr-defined]
            "score_band": None if scored.score is None else scored.score.band,  # type: ignore[attr-defined]
            "queue": None if scored.queue is None else scored.queue.sentence(),  # type: ignore[attr-defined]
        },
        "window": {
            "events": args.events,
            "rows": window_rows,
            "median_s": statistics.median(window_times),
            "runs_s": window_times,
            "flagged": window.flagged,
        },
        "load_average_end": os.getloadavg(),
    }
    if evidently is not None:
        out["evidently"] = evidently
        out["ratio_evidently_with_read_over_file_no_scores"] = (
            evidently["median_with_read_s"] / plain_median  # type: ignore[operator]
        )
        out["same_features_flagged"] = sorted(plain.flagged) == evidently["flagged"]  # type: ignore[attr-defined]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
