"""REST sidecar speed: our POST /v1/score against `mlflow models serve` on the same model
version, a bare FastAPI route and a plain pydantic + booster route, in one run on loopback.

Usage: .venv/bin/python bench/api_latency.py [--data CSV] [--runs 5] [--requests 2000]
           [--warmup 200] [--duration 10] [--throughput-runs 3] [--no-throughput]

Needs Debian's wrk for the throughput part (`apt-get install -y wrk`) and taskset.

Set-up, in a fresh temporary home (WORKBENCH_HOME): `workbench train --data CSV
--sampling-fraction 0.0173` (the 135-tree LightGBM of issue 12, aliased champion) and
`workbench api-key create bench --scope score`, both through this checkout's CLI. The
requests carry --rows real rows of the CSV, evenly spaced, sent in turn.

Servers, each a subprocess on a free 127.0.0.1 port, waited for:
- ours: `workbench serve-api` (uvicorn, uvloop + httptools), keys, metrics and the audit
  log on (every prediction is written to the home's SQLite database);
- ours-hourly: the same with the audit flush, key refresh and alias watch every hour
  instead of every 1 / 5 / 5 s: what that background work costs the requests (diagnostic);
- mlflow: `mlflow models serve -m models:/<name>/<version> --env-manager local` (its own
  uvicorn: uvloop + httptools too), body `{"dataframe_split": ...}`;
- bare: bench/api_bare.py, a FastAPI route returning a constant;
- plain: bench/api_plain.py, pydantic validation of the 30 fields and the booster;
bare and plain under `uvicorn --loop uvloop --http httptools --no-access-log`.

Sequential: a `requests.Session` per server, --warmup requests then --requests timed ones,
p50 / p99; the servers take turns (the order rotated per run) for --runs runs; medians of
the p50s and p99s, the ratios per run and their medians. Nothing is pinned here.

Throughput: `wrk -t1 -c16 -d<duration>s --latency` with a Lua script (the same rows), the
client pinned to CPU 0 and 1-worker servers to CPU 1 with taskset; ours with 2 workers runs
unpinned beside the unpinned client. The CPU-seconds per second of the client and of the
server's processes, and each CPU's busy share, say how the two cores were split. Two more
rows run the sidecar's app through bench/api_gc.py, which logs every full garbage collection
(and, in the second, freezes the heap after start-up): the pauses per wrk run are counted.

Breakdown: bench/api_breakdown.py in a subprocess (pieces of the request path timed
in-process, the apps called through ASGI), in both prometheus-client modes.

Prints the tables (bench/api_report.py) and writes every figure to bench/out/api_latency.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this file
from api_report import print_report
from api_servers import (
    ROUTES,
    Server,
    WrkResult,
    free_port,
    our_counts,
    run_wrk,
    server_command,
    start_server,
    time_sequential,
    write_wrk_script,
)

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
DEFAULT_DATA = Path(
    os.environ.get("WORKBENCH_REAL_SAMPLE")
    or REPO.parent / "shared" / "data" / "creditcard_sample.csv"
)
SAMPLING_FRACTION = "0.0173"  # gives the 135-tree model of issue 12
SEQUENTIAL = ("ours", "ours-hourly", "mlflow", "bare", "plain")
BODIES = ("ours", "mlflow", "bare", "plain")  # the request bodies and headers, by server kind
HOURLY = {
    "WORKBENCH_API_AUDIT_FLUSH": "3600",
    "WORKBENCH_API_KEY_REFRESH": "3600",
    "WORKBENCH_API_RELOAD_INTERVAL": "3600",
}
THROUGHPUT = (  # label, server, workers, server's CPUs, wrk's CPUs (None: not pinned)
    ("ours, 1 worker", "ours", 1, "1", "0"),
    ("ours, 2 workers", "ours", 2, None, None),
    ("mlflow models serve, 1 worker", "mlflow", 1, "1", "0"),
    ("bare constant route", "bare", 1, "1", "0"),
    ("plain pydantic + booster route", "plain", 1, "1", "0"),
    ("ours via bench/api_gc.py, full collections logged", "ours-gc", 1, "1", "0"),
    ("the same + gc.freeze() after start-up", "ours-gc-frozen", 1, "1", "0"),
)


@dataclass
class Setup:
    """What every server and client of a run shares."""

    env: dict[str, str]
    logs: Path
    model: dict[str, Any]
    rows: list[dict[str, float]]
    bodies: dict[str, list[str]]  # by server kind (BODIES)
    headers: dict[str, dict[str, str]]


def kind_of(name: str) -> str:
    """The kind of body a server takes: every variant of ours takes ours."""
    return "ours" if name.startswith("ours") else name


def cli(env: dict[str, str], *args: str) -> str:
    """Run this checkout's `workbench` with ``args``; its stdout."""
    command = [sys.executable, "-m", "cli.main", *args]
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"workbench {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def prepare(home: Path, data: Path, env: dict[str, str], rows: int) -> Setup:
    """Train the model, make the key, save the booster for the plain route, pick the rows."""
    train = ["train", "--data", str(data), "--sampling-fraction", SAMPLING_FRACTION, "--json"]
    trained = json.loads(cli(env, *train))
    key = cli(env, "api-key", "create", "bench", "--scope", "score").strip()
    sys.path.insert(0, str(REPO))  # this checkout's core
    from core.config import Settings
    from core.registry import get_version_by_alias, load_model

    settings = Settings(home=home)
    info = get_version_by_alias(settings, settings.live_alias, with_metrics=False)
    booster = load_model(settings, info).estimator
    model_file = home / "bench-booster.txt"
    booster.save_model(str(model_file))
    env |= {"BENCH_API_KEY": key, "BENCH_MODEL_FILE": str(model_file)}
    model = {
        "name": trained["model_name"],
        "version": int(trained["version"]),
        "live_version": info.version,
        "trees": booster.num_trees(),
        "uri": f"models:/{trained['model_name']}/{trained['version']}",
    }
    picked = load_rows(data, rows)
    bodies = {kind: bodies_for(kind, picked) for kind in BODIES}
    headers = {kind: {"Content-Type": "application/json"} for kind in BODIES}
    headers["ours"]["Authorization"] = f"Bearer {key}"
    return Setup(env, home / "logs", model, picked, bodies, headers)


def load_rows(data: Path, count: int) -> list[dict[str, float]]:
    import pandas as pd

    from core.schema import FEATURES

    frame = pd.read_csv(data, usecols=list(FEATURES))[list(FEATURES)]
    picked = frame.iloc[np.linspace(0, len(frame) - 1, count).astype(int)]
    # floats, never ints: mlflow refuses an integer JSON value for a double column
    return [{k: float(v) for k, v in row.items()} for row in picked.to_dict("records")]


def bodies_for(kind: str, rows: list[dict[str, float]]) -> list[str]:
    if kind != "mlflow":
        return [json.dumps(r) for r in rows]
    columns = list(rows[0])
    split = ({"dataframe_split": {"columns": columns, "data": [list(r.values())]}} for r in rows)
    return [json.dumps(body) for body in split]


def start(setup: Setup, name: str, *, workers: int = 1, pin: str | None = None) -> Server:
    kind, port = "ours-gc" if name.startswith("ours-gc") else kind_of(name), free_port()
    path, ready = ROUTES[kind]
    command = server_command(kind, port, model_uri=setup.model["uri"], workers=workers)
    env = setup.env | (HOURLY if name == "ours-hourly" else {})
    env |= {"BENCH_GC_FREEZE": "1"} if name == "ours-gc-frozen" else {}
    label = f"{name}-{workers}w-{pin or 'free'}"
    return start_server(
        label,
        command,
        env=env,
        cwd=REPO,
        logs=setup.logs,
        port=port,
        path=path,
        ready=ready,
        pin=pin,
    )


def check_same_scores(setup: Setup, servers: dict[str, Server]) -> float:
    """The largest difference between the servers' probabilities on the first 20 rows.

    Raises:
        RuntimeError: they differ by more than 1e-9 (not the same model).
    """
    worst = 0.0
    for i in range(20):
        seen = []
        for name, server in servers.items():
            kind = kind_of(name)
            if kind == "bare":
                continue
            body, headers = setup.bodies[kind][i], setup.headers[kind]
            answer = requests.post(server.url, data=body, headers=headers)
            answer.raise_for_status()
            payload = answer.json()
            seen.append(payload["predictions"][0] if kind == "mlflow" else payload["probability"])
        worst = max(worst, max(seen) - min(seen))
    if worst > 1e-9:
        raise RuntimeError(f"the servers disagree on a probability by {worst}")
    return worst


def flush_wait(setup: Setup) -> None:
    """Wait for our audit recorder's next flush (its interval, 1 s by default, and a margin)."""
    time.sleep(float(setup.env.get("WORKBENCH_API_AUDIT_FLUSH", "1.0")) + 1.5)


def run_sequential(args: argparse.Namespace, setup: Setup) -> dict[str, Any]:
    servers: dict[str, Server] = {}
    try:
        for name in SEQUENTIAL:
            servers[name] = start(setup, name)
        worst = check_same_scores(setup, servers)
        gc.collect()
        gc.freeze()  # the client's collector stays out of the timings
        runs = []
        for run in range(args.runs):
            shift = run % len(SEQUENTIAL)
            result = {}
            for name in SEQUENTIAL[shift:] + SEQUENTIAL[:shift]:
                bodies, headers = setup.bodies[kind_of(name)], setup.headers[kind_of(name)]
                result[name] = time_sequential(
                    servers[name], bodies, headers, warmup=args.warmup, count=args.requests
                )
            for other in SEQUENTIAL[1:]:
                result[f"ours/{other}"] = result["ours"]["p50_ms"] / result[other]["p50_ms"]
            runs.append(result)
            figures = (
                f"{n} {result[n]['p50_ms']:.2f}/{result[n]['p99_ms']:.2f}" for n in SEQUENTIAL
            )
            print(f"run {run + 1} p50/p99 ms: " + ", ".join(figures), flush=True)
        flush_wait(setup)
        counts = our_counts(servers["ours"])
    finally:
        for server in servers.values():
            server.stop()
    summary: dict[str, Any] = {"runs": runs, "same_scores_max_difference": worst}
    for name in SEQUENTIAL:
        summary[name] = {
            "p50_ms": statistics.median(r[name]["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r[name]["p99_ms"] for r in runs),
            "errors": sum(r[name]["errors"] for r in runs),
            **{
                k: statistics.median(r[name][k] for r in runs)
                for k in ("mean_ms", "client_cpu_ms", "server_cpu_ms")
            },
        }
    for other in SEQUENTIAL[1:]:
        summary[f"ours/{other}"] = statistics.median(r[f"ours/{other}"] for r in runs)
    summary["ours_server_counts"] = counts
    summary["ours_requests_sent"] = args.runs * (args.warmup + args.requests) + 20
    return summary


def run_throughput(args: argparse.Namespace, setup: Setup) -> dict[str, Any]:
    scripts = {
        kind: write_wrk_script(setup.logs / f"{kind}.lua", setup.bodies[kind], setup.headers[kind])
        for kind in BODIES
    }
    servers: dict[str, Server] = {}
    results: dict[str, list[WrkResult]] = {t[0]: [] for t in THROUGHPUT}
    pauses: dict[str, list[list[float]]] = {t[0]: [] for t in THROUGHPUT}
    ours = [t[0] for t in THROUGHPUT if t[1] == "ours"]

    def wrk(label: str, name: str, client: str | None, duration: int) -> WrkResult:
        return run_wrk(
            servers[label],
            scripts[kind_of(name)],
            connections=args.connections,
            duration=duration,
            pin=client,
        )

    try:
        for label, name, workers, pin, _ in THROUGHPUT:
            servers[label] = start(setup, name, workers=workers, pin=pin)
        before = {label: our_counts(servers[label]) for label in ours}
        for label, kind, _, _, client in THROUGHPUT:
            wrk(label, kind, client, 2)  # warm-up, not recorded
        for run in range(args.throughput_runs):
            for label, kind, _, _, client in THROUGHPUT:
                seen = len(full_collections(servers[label]))
                result = wrk(label, kind, client, args.duration)
                results[label].append(result)
                pauses[label].append(full_collections(servers[label])[seen:])
                print(
                    f"wrk run {run + 1}, {label}: {result.requests_per_s:.0f} req/s, "
                    f"{result.errors} errors",
                    flush=True,
                )
        flush_wait(setup)
        after = {label: our_counts(servers[label]) for label in ours}
    finally:
        for server in servers.values():
            server.stop()
    summary: dict[str, Any] = {}
    for label, name, _, server_cpus, client_cpus in THROUGHPUT:
        rs = sorted(results[label], key=lambda r: r.requests_per_s)
        pinning = f"server CPU {server_cpus}, wrk CPU {client_cpus}" if server_cpus else "none"
        summary[label] = {
            "pinning": pinning,
            "requests_per_s_median": rs[len(rs) // 2].requests_per_s,
            "requests_per_s_runs": [r.requests_per_s for r in results[label]],
            "errors_total": sum(r.errors for r in rs),
            "median_run": rs[len(rs) // 2].__dict__,
            "runs": [r.__dict__ for r in results[label]],
        }
        if name.startswith("ours-gc"):
            summary[label]["full_collection_pauses_ms_per_run"] = pauses[label]
        if label in after:
            counted = {k: after[label][k] - before[label].get(k, 0) for k in after[label]}
            summary[label]["server_counts_delta"] = counted
    return summary


def full_collections(server: Server) -> list[float]:
    """The pauses (ms) of the full collections bench/api_gc.py logged so far."""
    lines = server.log.read_text(errors="replace").splitlines()
    return [json.loads(line[9:])["pause_ms"] for line in lines if line.startswith("BENCH-GC ")]


def run_breakdown(setup: Setup) -> list[Any]:
    bodies = setup.logs / "bodies.json"
    bodies.write_text(json.dumps(setup.rows))
    script = str(REPO / "bench" / "api_breakdown.py")
    out = []
    for flag in ([], ["--multiprocess-metrics"]):
        command = [sys.executable, script, "--bodies", str(bodies), *flag]
        done = subprocess.run(
            command, env=setup.env, cwd=REPO, capture_output=True, text=True, check=True
        )
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def server_problems(logs: Path) -> dict[str, list[str]]:
    """Warning and error lines in our servers' logs."""
    words = ("WARNING", "ERROR", "Traceback", "CRITICAL")
    found = {}
    for log in sorted(logs.glob("ours*.log")):
        text = log.read_text(errors="replace").splitlines()
        if lines := [line for line in text if any(word in line for word in words)]:
            found[log.stem] = lines[:20]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rows", type=int, default=500, help="distinct request rows")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--throughput-runs", type=int, default=3)
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--keep-home", action="store_true")
    args = parser.parse_args()
    for tool in () if args.no_throughput else ("wrk", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(
                f"{tool} is not installed: `apt-get install -y {tool}` as root (taskset "
                "is in util-linux), or run with --no-throughput"
            )
    if not args.data.exists():
        sys.exit(f"no data at {args.data}: pass --data or set WORKBENCH_REAL_SAMPLE")

    home = Path(tempfile.mkdtemp(prefix="apibench-home-"))
    (home / "logs").mkdir()
    drop = ("WORKBENCH_", "MLFLOW_", "PROMETHEUS_", "BENCH_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env |= {
        "WORKBENCH_HOME": str(home),
        "PYTHONPATH": str(REPO),  # this checkout, whatever the venv's editable install says
        "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",  # mlflow runs `uvicorn`
        "MLFLOW_TRACKING_URI": f"sqlite:///{home / 'mlflow.db'}",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    out: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}",
        "options": {k: v for k, v in vars(args).items() if k != "data"},
        "load_average": {"start": os.getloadavg()},
    }
    try:
        setup = prepare(home, args.data, env, args.rows)
        out["model"] = setup.model
        out["sequential"] = run_sequential(args, setup)
        out["load_average"]["after_sequential"] = os.getloadavg()
        if not args.no_throughput:
            out["throughput"] = run_throughput(args, setup)
            out["load_average"]["after_throughput"] = os.getloadavg()
        if not args.no_breakdown:
            out["breakdown"] = run_breakdown(setup)
            out["load_average"]["end"] = os.getloadavg()
        out["our_server_log_problems"] = server_problems(setup.logs)
    finally:
        if not args.keep_home:
            shutil.rmtree(home, ignore_errors=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "api_latency.json").write_text(json.dumps(out, indent=2))
    print_report(out)
    print(f"\nEvery figure: {OUT / 'api_latency.json'}")


if __name__ == "__main__":
    main()
